"""Real servers on loopback for tests: moto (S3, DynamoDB, Secrets Manager), a throwaway
PostgreSQL cluster, an ``mlflow server`` on both, a Prometheus Pushgateway, and a Spark
standalone cluster (a master and workers from the pinned PySpark's ``spark-class``).

Each is a context manager that starts the server on a free 127.0.0.1 port as a separate
process, waits until it answers, yields where it listens, and stops it on exit. Nothing here
mocks a client in-process: tests talk HTTP (or the PostgreSQL protocol) to a real server.

The same functions back ``make services`` (``python -m tests.support.servers``).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
# moto accepts any credentials; these are fake and only ever sent to the loopback server
FAKE_AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"


class ServerError(RuntimeError):
    """A server did not start (its log's tail is in the message)."""


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{url}: exited with {process.returncode}\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise ServerError(f"{url}: no answer after {timeout:.0f}s\n{_tail(log)}")


def _stop(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    # each server runs in its own process group: its workers go with it
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def _start(command: list[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )


# --- moto ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moto:
    """A moto server: S3, DynamoDB and Secrets Manager on one endpoint."""

    endpoint: str
    region: str = REGION

    @property
    def env(self) -> dict[str, str]:
        """The AWS environment that points every SDK (boto3, AWS SDK v1/v2, delta-rs) here."""
        return {
            **FAKE_AWS_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # MLflow's S3 artifact client reads this one
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            # no instance-metadata lookups on a developer machine or CI
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str):
        """A boto3 client for ``service`` on this server."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=FAKE_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, name: str) -> None:
        """Create ``name`` (no error when it exists)."""
        s3 = self.client("s3")
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name)


def moto_command() -> list[str]:
    """The ``moto_server`` of this interpreter's environment."""
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "moto.server"]


@contextlib.contextmanager
def moto_server(workdir: Path | None = None, timeout: float = 60) -> Iterator[Moto]:
    """Run ``moto_server`` on a free loopback port."""
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="moto-")))
        port = free_port()
        log = folder / "moto.log"
        process = _start([*moto_command(), "-H", LOOPBACK, "-p", str(port)], log)
        stack.callback(_stop, process)
        endpoint = f"http://{LOOPBACK}:{port}"
        _wait_http(f"{endpoint}/moto-api/", process, log, timeout)
        yield Moto(endpoint=endpoint)


# --- PostgreSQL ---------------------------------------------------------------------------


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, else Debian's /usr/lib/postgresql/<ver>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


@dataclass(frozen=True)
class Postgres:
    """A running throwaway PostgreSQL cluster (trust authentication, loopback only)."""

    host: str
    port: int
    user: str
    database: str
    data: Path | None = None

    @property
    def uri(self) -> str:
        """The SQLAlchemy URI of its database, naming the driver: SQLAlchemy 2.1 reads a bare
        ``postgresql://`` as psycopg 3, the project ships psycopg2."""
        return self.uri_for(self.user)

    def uri_for(self, user: str) -> str:
        """The URI of its database for ``user``, without a password."""
        return f"postgresql+psycopg2://{user}@{self.host}:{self.port}/{self.database}"

    def add_password_user(self, name: str, password: str) -> None:
        """A superuser ``name`` who must log in over TCP with ``password`` (SCRAM), while
        every other user keeps trust authentication."""
        import psycopg2

        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres"
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SET password_encryption = 'scram-sha-256'")
                cursor.execute(f'CREATE ROLE "{name}" LOGIN SUPERUSER PASSWORD %s', (password,))
                hba = self.data / "pg_hba.conf"
                rule = f"host all {name} {LOOPBACK}/32 scram-sha-256\n"
                hba.write_text(rule + hba.read_text())  # the first matching line wins
                cursor.execute("SELECT pg_reload_conf()")
        finally:
            connection.close()
        # the postmaster rereads pg_hba.conf on its own time: wait until it asks for the password
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                psycopg2.connect(
                    host=self.host, port=self.port, user=name, dbname="postgres"
                ).close()
            except psycopg2.OperationalError:
                return
            time.sleep(0.1)
        raise ServerError(f"PostgreSQL did not start asking {name} for a password")


def _as_postgres_user() -> list[str]:
    # initdb and postgres refuse to run as root
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServerError("running as root without runuser: cannot start PostgreSQL")
    return [runuser, "-u", "postgres", "--"]


@contextlib.contextmanager
def postgres_server(
    database: str = "lakehouse", workdir: Path | None = None, timeout: float = 60
) -> Iterator[Postgres]:
    """Create a cluster in a temporary folder, start it on a free loopback port."""
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise ServerError("PostgreSQL is not installed: run `make services-deps`")
    prefix = _as_postgres_user()
    user = "postgres" if prefix else (os.environ.get("USER") or "postgres")
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pg-")))
        data, sockets, log = folder / "data", folder / "sockets", folder / "postgres.log"
        sockets.mkdir(parents=True, exist_ok=True)
        if prefix:
            shutil.chown(folder, "postgres")
            shutil.chown(sockets, "postgres")
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        port = free_port()
        options = f"-h {LOOPBACK} -p {port} -k {sockets} -c fsync=off"
        wait = ["-w", "-t", str(int(timeout))]
        started = subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), *wait, "start"],
            capture_output=True,
            text=True,
        )
        if started.returncode != 0:
            raise ServerError(f"pg_ctl start failed: {started.stderr}\n{_tail(log)}")
        stack.callback(
            subprocess.run,
            [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        server = Postgres(host=LOOPBACK, port=port, user=user, database=database, data=data)
        _create_database(server)
        yield server


def _create_database(server: Postgres) -> None:
    import psycopg2

    connection = psycopg2.connect(
        host=server.host, port=server.port, user=server.user, dbname="postgres"
    )
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{server.database}"')
    finally:
        connection.close()


# --- mlflow server ------------------------------------------------------------------------


@dataclass(frozen=True)
class MlflowServer:
    """A tracking server: runs and registry in PostgreSQL, artifacts in S3 (moto)."""

    uri: str
    backend_store_uri: str
    artifacts_destination: str
    env: dict[str, str] = field(default_factory=dict)

    def client(self):
        """A client of this server for runs and the registry alike. Both URIs are given:
        otherwise mlflow takes the registry from its process-wide setting, which another
        test (or ``lakehouse.ml.tracking.client_for``) may have pointed elsewhere."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


@contextlib.contextmanager
def mlflow_server(
    postgres: Postgres,
    moto: Moto,
    bucket: str = "mlflow-artifacts",
    workdir: Path | None = None,
    timeout: float = 180,
) -> Iterator[MlflowServer]:
    """Run ``mlflow server`` with a PostgreSQL backend store and proxied S3 artifacts.

    Clients only need the tracking URI: the server stores artifacts in ``s3://<bucket>/``
    itself (``--artifacts-destination``), reaching moto through ``MLFLOW_S3_ENDPOINT_URL``.
    """
    moto.create_bucket(bucket)
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlf-")))
        port = free_port()
        log = folder / "mlflow.log"
        destination = f"s3://{bucket}/artifacts"
        # no job runner: the project runs no server-side MLflow jobs, and its consumer
        # processes poll the database all the time
        env = {**os.environ, **moto.env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            postgres.uri,
            "--artifacts-destination",
            destination,
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        process = _start(command, log, env)
        stack.callback(_stop, process)
        uri = f"http://{LOOPBACK}:{port}"
        _wait_http(f"{uri}/health", process, log, timeout)
        yield MlflowServer(
            uri=uri,
            backend_store_uri=postgres.uri,
            artifacts_destination=destination,
            env={"MLFLOW_TRACKING_URI": uri},
        )


# --- Redis --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redis:
    """A Redis server: ``url`` to connect to; ``client()`` a new connection."""

    url: str

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)


@contextlib.contextmanager
def redis_server(workdir: Path | None = None, timeout: float = 30) -> Iterator[Redis]:
    """Run Debian's ``redis-server`` on a free loopback port, in memory only."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerError("redis-server is not installed: run `make services-deps` (Debian's)")
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="redis-")))
        port = free_port()
        log = folder / "redis.log"
        command = [binary, "--bind", LOOPBACK, "--port", str(port), "--save", ""]
        process = _start([*command, "--appendonly", "no", "--dir", str(folder)], log)
        stack.callback(_stop, process)
        server = Redis(f"redis://{LOOPBACK}:{port}/0")
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ServerError(f"redis-server exited with {process.returncode}\n{_tail(log)}")
            try:
                if server.client().ping():
                    break
            except OSError:
                pass
            except Exception as exc:  # redis.ConnectionError while it starts
                if time.monotonic() > deadline:
                    raise ServerError(f"redis-server: no answer ({exc})\n{_tail(log)}") from exc
            time.sleep(0.1)
        yield server


# --- Prometheus Pushgateway ----------------------------------------------------------------


def pushgateway_bin() -> str | None:
    """Debian's ``prometheus-pushgateway`` (``make services-deps``), or one on PATH."""
    return shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")


@dataclass(frozen=True)
class Pushgateway:
    """A Prometheus Pushgateway: ``url`` to push to, ``scrape()`` what Prometheus would read."""

    url: str

    def scrape(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            return response.read().decode()

    def wipe(self) -> None:
        """Delete every pushed group (the admin API)."""
        request = urllib.request.Request(f"{self.url}/api/v1/admin/wipe", method="PUT")
        with urllib.request.urlopen(request, timeout=10):
            pass


@contextlib.contextmanager
def pushgateway_server(workdir: Path | None = None, timeout: float = 30) -> Iterator[Pushgateway]:
    """Run the Pushgateway on a free loopback port, keeping nothing on disk."""
    binary = pushgateway_bin()
    if binary is None:
        raise ServerError(
            "prometheus-pushgateway is not installed: run `make services-deps` "
            "(Debian's prometheus-pushgateway package)"
        )
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pgw-")))
        port = free_port()
        log = folder / "pushgateway.log"
        address = f"{LOOPBACK}:{port}"
        # (Debian's build persists to /var/lib/prometheus by default: keep it in memory)
        command = [binary, f"--web.listen-address={address}", "--persistence.file="]
        process = _start([*command, "--web.enable-admin-api"], log)
        stack.callback(_stop, process)
        url = f"http://{address}"
        _wait_http(f"{url}/-/ready", process, log, timeout)
        yield Pushgateway(url)


@contextlib.contextmanager
def prometheus_server(
    targets: dict[str, str], workdir: Path, scrape_interval_s: float = 1.0, timeout: float = 60
) -> Iterator[str]:
    """Run Prometheus (Debian's ``prometheus``, beside promtool) on a free loopback port,
    scraping each ``job -> host:port`` target's ``/metrics``; yield its URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise ServerError(
            "prometheus is not installed: run `make services-deps` (Debian's prometheus package)"
        )
    jobs = [
        {"job_name": job, "static_configs": [{"targets": [target]}]}
        for job, target in targets.items()
    ]
    config = {
        "global": {
            "scrape_interval": f"{round(scrape_interval_s * 1000)}ms",
            "evaluation_interval": f"{round(scrape_interval_s * 1000)}ms",
        },
        "scrape_configs": jobs,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(json.dumps(config))
    address = f"{LOOPBACK}:{free_port()}"
    log = workdir / "prometheus.log"
    command = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address={address}",
    ]
    process = _start(command, log)
    try:
        url = f"http://{address}"
        _wait_http(f"{url}/-/ready", process, log, timeout)
        yield url
    finally:
        _stop(process)


# --- a Spark standalone cluster ------------------------------------------------------------


@dataclass(frozen=True)
class SparkCluster:
    """A standalone master and its workers: ``url`` for ``--master``, ``status()`` the master's
    JSON (workers, running and completed applications)."""

    url: str
    ui_url: str
    workdir: Path

    def status(self) -> dict:
        with urllib.request.urlopen(f"{self.ui_url}/json/", timeout=10) as response:
            return json.loads(response.read())

    @property
    def submit_env(self) -> dict[str, str]:
        """What ``infra/spark-submit.sh`` needs in its environment for this cluster: the pinned
        PySpark's spark-submit, and the jars read in place (the workers share this machine's
        ``.jars/``) rather than copied into each executor's folder (about 690 MB a job)."""
        return {
            "SPARK_SUBMIT": str(Path(sys.executable).parent / "spark-submit"),
            "LAKEHOUSE_NODE_JARS": str(PROJECT_ROOT / ".jars"),
        }

    def submit_command(self, job: Path, *args: str, conf: dict[str, str]) -> list[str]:
        """``infra/spark-submit.sh --master <cluster> --conf k=v ... <job> <args>``."""
        command = [str(PROJECT_ROOT / "infra" / "spark-submit.sh"), "--master", self.url]
        for name, value in conf.items():
            command += ["--conf", f"{name}={value}"]
        return [*command, str(job), *args]


def spark_class() -> str:
    """The pinned PySpark's ``bin/spark-class`` (its distribution is a Spark home)."""
    from pyspark.find_spark_home import _find_spark_home

    return str(Path(_find_spark_home()) / "bin" / "spark-class")


@contextlib.contextmanager
def spark_cluster(
    workdir: Path, workers: int = 2, cores: int = 1, memory: str = "2g", timeout: float = 90
) -> Iterator[SparkCluster]:
    """A Spark standalone master and ``workers`` workers on loopback, from the pinned PySpark."""
    from pyspark.find_spark_home import _find_spark_home

    env = {
        **os.environ,
        "SPARK_HOME": _find_spark_home(),
        "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_LOCAL_DIRS": str(workdir / "local"),
        "SPARK_NO_DAEMONIZE": "1",
    }
    with contextlib.ExitStack() as stack:
        port, ui_port = free_port(), free_port()
        url, ui_url = f"spark://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{ui_port}"
        master_log = workdir / "master.log"
        master = [spark_class(), "org.apache.spark.deploy.master.Master", "--host", LOOPBACK]
        master += ["--port", str(port), "--webui-port", str(ui_port)]
        process = _start(master, master_log, env)
        stack.callback(_stop, process)
        _wait_http(f"{ui_url}/json/", process, master_log, timeout)
        for n in range(workers):
            folder = workdir / f"worker-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            command = [spark_class(), "org.apache.spark.deploy.worker.Worker", "--host", LOOPBACK]
            command += ["--cores", str(cores), "--memory", memory, "--work-dir", str(folder)]
            command += ["--webui-port", str(free_port()), url]
            worker = _start(command, folder / "worker.log", env)
            stack.callback(_stop, worker)
        cluster = SparkCluster(url, ui_url, workdir)
        deadline = time.monotonic() + timeout
        while _alive_workers(cluster) < workers:
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServerError(f"{workers} workers did not register\n{_tail(master_log)}")
            time.sleep(0.5)
        yield cluster


def _alive_workers(cluster: SparkCluster) -> int:
    """How many workers the master counts as alive; 0 while its UI is still being mounted: the
    master listens before it has mounted its pages, so for a moment ``/json/`` answers 404, or
    with the HTML of the page at ``/``."""
    try:
        status = cluster.status()
    except (OSError, ValueError):
        return 0
    return len([w for w in status["workers"] if w["state"] == "ALIVE"])


def _main() -> None:
    """``make services``: start all three, print the environment to export, wait for Ctrl-C."""
    with (
        moto_server() as moto,
        postgres_server(database="mlflow") as postgres,
        mlflow_server(postgres, moto) as mlflow,
    ):
        exports = {**moto.env, **mlflow.env}
        print("# services are up; in another shell:", flush=True)
        for key, value in exports.items():
            print(f"export {key}={value}", flush=True)
        print(f"# PostgreSQL: {postgres.uri}", flush=True)
        print("# Ctrl-C stops them all", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    _main()
