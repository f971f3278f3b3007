# CPU image: the medcam CLI (explain, audit, batch) and the PACS service.
#   docker build -t medcam .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/data:/data" medcam \
#       medcam explain in --out out                      # reads data/in, writes data/out
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/data:/data" -p 8080:8080 \
#       -p 11112:11112 -e MEDCAM_API_TOKEN=... -e MEDCAM_PACS_HOST=pacs.example.org medcam
# Any uid may run it: /data is the working folder (mount a folder you own there),
# HOME and caches are in /tmp. Without --user it runs as uid 10001.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /opt/medcam
# CPU-only torch first, so no dependency pulls a CUDA build (same order as the Makefile).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY medcam ./medcam
# every extra but dev: the service, `medcam audit`, `medcam batch` (pacs comes with them)
RUN pip install '.[service,audit,batch]'
COPY service ./service
RUN useradd --system --no-create-home --uid 10001 --shell /usr/sbin/nologin medcam \
 && install -d -m 1777 /data
# MEDCAM_IN_CONTAINER: the service refuses a loopback PACS (that would be this container).
# The service keeps its spool, job folders and database in /data/medcam-service (0700).
ENV HOME=/tmp MPLCONFIGDIR=/tmp/matplotlib PYTHONPATH=/opt/medcam \
    MEDCAM_IN_CONTAINER=1 MEDCAM_DATA_DIR=/data/medcam-service \
    MEDCAM_HTTP_HOST=0.0.0.0 MEDCAM_DICOM_HOST=0.0.0.0
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080 11112
HEALTHCHECK --interval=30s --timeout=5s \
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"
CMD ["python", "-m", "service"]
