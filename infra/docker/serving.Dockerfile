# The prediction service: FastAPI + uvicorn, no JVM (Delta tables are read with `deltalake`).
# Build from the repository root:
#   docker build -f infra/docker/serving.Dockerfile -t lakehouse-serving .
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir uv==0.13.9
COPY setup.cfg pyproject.toml constraints.txt README.md ./
COPY lakehouse ./lakehouse
COPY serving ./serving
# exact pins from constraints.txt, installed into a venv that the runtime stage copies
RUN uv venv /opt/venv && \
    uv pip install --no-cache --python /opt/venv/bin/python -c constraints.txt .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 lakehouse
COPY --from=build /opt/venv /opt/venv
COPY conf /app/conf
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    LAKEHOUSE_CONF_DIR=/app/conf \
    LAKEHOUSE_ENV=prod \
    PYTHONUNBUFFERED=1
USER lakehouse
EXPOSE 8000
# The lake (--lake or LAKEHOUSE_LAKE) and MLFLOW_TRACKING_URI come from the deployment.
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
ENTRYPOINT ["lakehouse", "serve", "--host", "0.0.0.0", "--port", "8000"]
