# syntax=docker/dockerfile:1
# The prediction service: FastAPI + uvicorn, no PySpark and no JVM (Delta tables are read with
# `deltalake`). Build from the repository root (.dockerignore keeps data, jars and venvs out):
#   docker build -f infra/docker/serving.Dockerfile -t lakehouse-serving .
# The base is pinned by digest (python:3.11-slim, a multi-platform index); CI's scan fails the
# release when the base has fixable HIGH/CRITICAL vulnerabilities: move the digest then.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN pip install --no-cache-dir uv==0.13.9
COPY setup.cfg pyproject.toml constraints.txt README.md ./
COPY lakehouse ./lakehouse
COPY serving ./serving
# The `serving` extra: the package without pyspark, delta-spark and Great Expectations, at the
# exact pins of constraints.txt, in a venv that the runtime stage copies. The build fails if
# Spark got in anyway.
RUN uv venv /opt/venv && \
    uv pip install --no-cache --python /opt/venv/bin/python -c constraints.txt '.[serving]' && \
    if /opt/venv/bin/python -c "import pyspark" 2>/dev/null || \
       /opt/venv/bin/python -c "import delta" 2>/dev/null; then \
      echo "pyspark/delta-spark must not be in the serving image" >&2; exit 1; \
    fi

FROM ${PYTHON_IMAGE}
# uid 10001: the runAsUser of the Kubernetes manifests
RUN useradd --create-home --uid 10001 --user-group lakehouse
COPY --from=build /opt/venv /opt/venv
COPY conf /app/conf
WORKDIR /app
# LAKEHOUSE_CONF_DIR: the installed package is not beside conf/. The deployment sets the rest:
# LAKEHOUSE_ENV (overlay), LAKEHOUSE_LAKE / --lake, MLFLOW_TRACKING_URI, LAKEHOUSE_LOG_FORMAT.
ENV PATH=/opt/venv/bin:$PATH \
    LAKEHOUSE_CONF_DIR=/app/conf \
    LAKEHOUSE_ENV=prod \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# By name, as tests/infra/test_manifests.py expects; it is uid 10001 (created above), the
# runAsUser that Kubernetes checks runAsNonRoot against.
# hadolint ignore=DL3066
USER lakehouse
EXPOSE 8000
# /health is liveness (the process answers); readiness (/ready: models and features loaded) is
# the orchestrator's probe, since models load in the background after start.
HEALTHCHECK --interval=10s --timeout=2s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
ENTRYPOINT ["lakehouse", "serve", "--host", "0.0.0.0", "--port", "8000"]
