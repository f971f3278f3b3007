# CPU image: the medcam CLI and the PACS service, run as a non-root user.
#   docker build -t medcam .
#   docker run --rm -v "$PWD/data:/data" medcam medcam explain /data/in --out /data/out
#   docker run --rm -p 8080:8080 -p 11112:11112 -e MEDCAM_API_TOKEN=... medcam   # service
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /opt/medcam
# CPU-only torch first, so no dependency pulls a CUDA build (same order as the Makefile).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY medcam ./medcam
RUN pip install '.[service]'
COPY service ./service
RUN useradd --system --create-home --uid 10001 --shell /usr/sbin/nologin medcam \
 && install -d -o medcam -g medcam -m 0700 /var/lib/medcam
USER 10001:10001
ENV MEDCAM_HTTP_HOST=0.0.0.0 MEDCAM_DICOM_HOST=0.0.0.0 MEDCAM_DATA_DIR=/var/lib/medcam
VOLUME ["/var/lib/medcam"]
EXPOSE 8080 11112
HEALTHCHECK --interval=30s --timeout=5s \
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"
CMD ["python", "-m", "service"]
