# syntax=docker/dockerfile:1
# The batch jobs: Python 3.11, PySpark + Delta at the pins of constraints.txt, a Java 17 runtime
# (Temurin) and the JVM jars of infra/jvm (fetched by Maven in a build stage, as `make jars`
# does). Build from the repository root:
#   docker build -f infra/docker/jobs.Dockerfile -t lakehouse-jobs .
# Run a job (see infra/docker/jobs-entrypoint.sh):
#   docker run lakehouse-jobs spark-submit jobs/run.py --lake s3a://lakehouse/lake
#   docker run lakehouse-jobs lakehouse gold --lake s3a://lakehouse/lake
# The image keeps the repository's layout under /app (an editable install), so what resolves
# paths from the project root (conf/, .jars/, conf/log4j2.properties, infra/spark-submit.sh)
# finds them as in a checkout. Bases are pinned by digest (multi-platform indexes).
ARG PYTHON_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff
ARG JRE_IMAGE=eclipse-temurin:17-jre@sha256:c6f2875c05ea10f16398bdc5f73405c384991506f2f1ead8bcc6582ae8adea79
ARG MAVEN_IMAGE=maven:3-eclipse-temurin-17@sha256:42a3ac393abbc64dae6c96703e5ead2e921fe9103371ac58b5b404b0d6a26502

# The jars: infra/jvm/pom.xml's dependencies and Delta's DynamoDB log store built from source,
# both written to /src/.jars (the poms' jars.dir)
FROM ${MAVEN_IMAGE} AS jars
WORKDIR /src
COPY infra/jvm ./infra/jvm
RUN mvn --batch-mode --quiet -f infra/jvm/pom.xml dependency:copy-dependencies && \
    mvn --batch-mode --quiet -f infra/jvm/delta-storage-s3-dynamodb/pom.xml package && \
    ls .jars/*.jar >/dev/null

FROM ${JRE_IMAGE} AS jre

FROM ${PYTHON_IMAGE} AS build
WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.9
COPY setup.cfg pyproject.toml constraints.txt README.md ./
COPY lakehouse ./lakehouse
COPY serving ./serving
# The `batch` extra (pyspark, delta-spark, Great Expectations) beside the core, exact pins
RUN uv venv /app/.venv && \
    uv pip install --no-cache --python /app/.venv/bin/python -c constraints.txt -e '.[batch]'

FROM ${PYTHON_IMAGE}
ENV JAVA_HOME=/opt/java/openjdk
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
# uid 10001 as in the Kubernetes manifests; Spark's scratch space and relative data paths
# (data/, spark-warehouse/) are the only writable places under /app
RUN useradd --create-home --uid 10001 --user-group lakehouse && \
    install -d -o lakehouse -g lakehouse /app/data /app/spark-warehouse
COPY --from=build /app /app
COPY --from=jars /src/.jars /app/.jars
COPY conf /app/conf
COPY jobs /app/jobs
COPY infra/spark-submit.sh /app/infra/spark-submit.sh
COPY infra/docker/jobs-entrypoint.sh /app/infra/docker/jobs-entrypoint.sh
WORKDIR /app
ENV PATH=/app/.venv/bin:/opt/java/openjdk/bin:$PATH \
    PYSPARK_PYTHON=/app/.venv/bin/python \
    SPARK_LOCAL_DIRS=/tmp \
    LAKEHOUSE_PYFILES_DIR=/tmp/lakehouse-py \
    LAKEHOUSE_NODE_JARS=/app/.jars \
    LAKEHOUSE_ENV=prod \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# the JVM and the pinned packages are there, and the jars the session factory puts on the path
# (executors of this image read them in place: LAKEHOUSE_NODE_JARS, infra/spark-submit.sh)
RUN java -version && python -c "import pyspark, delta, lakehouse.spark" && ls /app/.jars/*.jar >/dev/null
# hadolint ignore=DL3066
USER lakehouse
ENTRYPOINT ["/app/infra/docker/jobs-entrypoint.sh"]
CMD ["lakehouse", "--help"]
