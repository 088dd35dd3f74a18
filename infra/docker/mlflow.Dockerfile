# syntax=docker/dockerfile:1
# The MLflow tracking server (`mlflow server`), built here like the other two images, so that CI
# pushes it by digest and the overlays pin the very build that was scanned: no third-party image
# whose digest nobody checked. MLflow is the version the project's clients use (constraints.txt),
# with the PostgreSQL driver for the backend store and boto3 for the S3 artifact store, both at
# the same file's pins. Build from the repository root (.dockerignore keeps the rest out):
#   docker build -f infra/docker/mlflow.Dockerfile -t lakehouse-mlflow .
# The base is pinned by digest (python:3.11-slim, a multi-platform index), as in serving's.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN pip install --no-cache-dir uv==0.13.9
COPY constraints.txt ./
# Every package at constraints.txt's pin; the build fails if one is missing from the image.
RUN uv venv /opt/venv && \
    uv pip install --no-cache --python /opt/venv/bin/python -c constraints.txt \
      mlflow psycopg2-binary boto3 && \
    /opt/venv/bin/python -c "import boto3, mlflow.server, psycopg2"

FROM ${PYTHON_IMAGE}
# uid 10001: the runAsUser of infra/k8s/base/mlflow/deployment.yaml
RUN useradd --create-home --uid 10001 --user-group mlflow
COPY --from=build /opt/venv /opt/venv
WORKDIR /tmp
# HOME and TMPDIR on /tmp: the pod's root file system is read-only, /tmp an emptyDir
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# hadolint ignore=DL3066
USER mlflow
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=2s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=2)"]
# The store URIs and the allowed hosts are the deployment's arguments (--backend-store-uri,
# --artifacts-destination, --allowed-hosts)
ENTRYPOINT ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
