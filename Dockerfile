# CPU image running the medcam CLI (the PACS service will use the same base).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/medcam
# CPU-only torch first, from the PyTorch CPU index, so no dependency pulls a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY medcam ./medcam
COPY service ./service
RUN pip install '.[service]' && useradd --create-home --uid 10001 medcam
USER medcam
ENTRYPOINT ["medcam"]
CMD ["--help"]
