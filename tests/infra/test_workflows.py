"""The GitHub Actions workflows (.github/workflows): actionlint (with shellcheck on every `run:`)
and the release rules the linter cannot know. Each rule is a function returning its problems,
and each is shown to find the problem it is about in a broken copy of the workflow."""

from __future__ import annotations

import copy
import itertools
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from lakehouse.config import PROJECT_ROOT
from tests.support.tools import tool

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
RELEASE = WORKFLOWS / "release.yml"
# the main workflow's jobs, each needing the one before; promote and rollback both follow canary
RELEASE_ORDER = ("build", "scan", "staging", "smoke", "canary")
AFTER_CANARY = ("promote", "rollback")
IMAGES = ("lakehouse-serving", "lakehouse-jobs")
TRIVY = "aquasecurity/trivy-action@"
SBOM_FORMATS = {"cyclonedx", "spdx", "spdx-json"}
STATIC_KEY_INPUTS = {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"}
STATIC_KEY_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    # YAML 1.1 reads the key `on` as True
    on = workflow.get("on", workflow.get(True))
    return {on: None} if isinstance(on, str) else dict(on)


def steps(workflow: dict):
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def needs(job: dict) -> set[str]:
    value = job.get("needs", [])
    return {value} if isinstance(value, str) else set(value)


def readme_test_command() -> str:
    """The command the README gives for the test suite (its quick-start block)."""
    for line in (PROJECT_ROOT / "README.md").read_text().splitlines():
        command, _, comment = line.partition("#")
        if command.startswith("make ") and "test suite" in comment:
            return command.strip()
    raise AssertionError("the README names no test command")


# --- the rules -------------------------------------------------------------------------------


def pr_problems(workflow: dict, command: str) -> list[str]:
    problems = []
    if "pull_request" not in triggers(workflow):
        problems.append("not run on pull requests")
    runs = [step.get("run", "").strip() for _, step in steps(workflow)]
    if command not in runs:
        problems.append(f"no step runs exactly {command!r}")
    if any("pytest" in run for run in runs):
        problems.append("runs pytest besides the README's command")
    if not any("make lint" in run for run in runs):
        problems.append("no lint step")
    if "concurrency" not in workflow:
        problems.append("no concurrency group")
    return problems


def order_problems(workflow: dict) -> list[str]:
    jobs = workflow["jobs"]
    problems = []
    if set(jobs) != {*RELEASE_ORDER, *AFTER_CANARY}:
        problems.append(f"jobs {sorted(jobs)}")
        return problems
    chain = [*itertools.pairwise(RELEASE_ORDER), *(("canary", j) for j in AFTER_CANARY)]
    for before, after in chain:
        if before not in needs(jobs[after]):
            problems.append(f"{after} does not need {before}")
    # nothing may skip ahead: a job needs no job that comes after it
    rank = {name: i for i, name in enumerate(RELEASE_ORDER)} | dict.fromkeys(AFTER_CANARY, 99)
    for name, job in jobs.items():
        problems += [f"{name} needs later {n}" for n in needs(job) if rank[n] >= rank[name]]
    if "failure" not in str(jobs["rollback"].get("if", "")):
        problems.append("rollback does not run on the canary's failure")
    if "if" in jobs["promote"]:
        problems.append("promote must run only when the canary (its judge) succeeded")
    runs = [step.get("run", "") for step in jobs["canary"]["steps"]]
    judge = [run for run in runs if "canary-judge" in run]
    if not judge or not all("--baseline" in r and "--canary" in r for r in judge):
        problems.append("the canary job does not run `lakehouse canary-judge`")
    return problems


def trivy_problems(workflow: dict) -> list[str]:
    problems = []
    scanned: dict[str, set[str]] = {"image": set(), "config": set()}
    sboms = 0
    for job, step in steps(workflow):
        if not step.get("uses", "").startswith(TRIVY):
            continue
        with_ = step.get("with", {})
        kind = with_.get("scan-type", "image")
        if str(with_.get("format", "")) in SBOM_FORMATS:
            sboms += 1
            continue
        scanned.setdefault(kind, set()).add(with_.get("image-ref") or with_.get("scan-ref"))
        if str(with_.get("exit-code")) != "1":
            problems.append(f"{job}: {step.get('name')}: exit-code is not 1")
        if str(with_.get("severity", "")).replace(" ", "") != "HIGH,CRITICAL":
            problems.append(f"{job}: {step.get('name')}: severity is not HIGH,CRITICAL")
    if len(scanned["image"]) < len(IMAGES):
        problems.append(f"images scanned: {scanned['image']}")
    if not scanned["config"]:
        problems.append("no IaC (config) scan")
    if sboms < len(IMAGES):
        problems.append("no SBOM of each image")
    return problems


def digest_problems(workflow: dict) -> list[str]:
    """Images are pushed without a tag and every later use names them by their digest."""
    problems = []
    build = workflow["jobs"]["build"]
    digest_steps = set()
    for step in build["steps"]:
        if step.get("uses", "").startswith("docker/build-push-action@"):
            outputs = step.get("with", {}).get("outputs", "")
            if "push-by-digest=true" not in outputs or step["with"].get("tags"):
                problems.append(f"build step {step.get('id')} does not push by digest only")
            digest_steps.add(step.get("id"))
    for name, value in build.get("outputs", {}).items():
        match = re.search(r"/(lakehouse-\w+)@\$\{\{ steps\.(\w+)\.outputs\.digest \}\}$", value)
        if not match or match[2] not in digest_steps:
            problems.append(f"build output {name} is not an image@digest: {value}")
    # every image the later jobs use comes from those outputs
    for job_name, job in workflow["jobs"].items():
        env = {**workflow.get("env", {}), **job.get("env", {})}
        for key, value in env.items():
            if key.endswith("_IMAGE") and not re.fullmatch(
                r"\$\{\{ needs\.build\.outputs\.[\w-]+ \}\}", str(value)
            ):
                problems.append(f"{job_name}: {key} is not the build's digest: {value}")
        for _, step in ((job_name, s) for s in job.get("steps", [])):
            text = step.get("run", "") + str(step.get("with", {}).get("image-ref", ""))
            for image, ref in re.findall(r"(lakehouse-(?:serving|jobs))[=:]([^\s\"']+)", text):
                if not re.fullmatch(r"\$\{?[A-Z_]+_IMAGE\}?", ref):
                    problems.append(f"{job_name}: {image} set to {ref}, not a digest variable")
    return problems


def secret_problems(workflow: dict, text: str) -> list[str]:
    problems = [f"an access key id in the file: {m[0]}" for m in ACCESS_KEY_ID.finditer(text)]
    envs = [("workflow", workflow.get("env", {}))]
    for name, job in workflow["jobs"].items():
        envs.append((name, job.get("env", {})))
        envs += [(name, step.get("env", {})) for step in job.get("steps", [])]
    for where, env in envs:
        problems += [f"{where}: env {key}" for key in env if key.upper() in STATIC_KEY_ENV]
    for name, step in steps(workflow):
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
            with_ = step.get("with", {})
            problems += [f"{name}: input {key}" for key in with_ if key in STATIC_KEY_INPUTS]
            if "role-to-assume" not in with_:
                problems.append(f"{name}: no role-to-assume (OIDC)")
            permissions = workflow["jobs"][name].get("permissions", {})
            if permissions.get("id-token") != "write":
                problems.append(f"{name}: no `id-token: write` for OIDC")
    return problems


def environment_problems(workflow: dict) -> list[str]:
    jobs = workflow["jobs"]
    want = {"staging": "staging", "smoke": "staging"} | dict.fromkeys(
        ("canary", "promote", "rollback"), "production"
    )
    problems = [
        f"{name} is not in the {env} environment"
        for name, env in want.items()
        if jobs[name].get("environment") != env
    ]
    if workflow.get("concurrency", {}).get("cancel-in-progress") is not False:
        problems.append("a release can be cancelled half-way")
    return problems


def pin_problems(workflow: dict) -> list[str]:
    return [
        f"{job}: {step['uses']} is not pinned by commit SHA"
        for job, step in steps(workflow)
        if "uses" in step and not step["uses"].startswith("./") and not PINNED.match(step["uses"])
    ]


# --- the workflows as they are ---------------------------------------------------------------


def actionlint(*paths) -> subprocess.CompletedProcess:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing (Debian: apt-get install shellcheck)"
    return subprocess.run(
        [tool("actionlint"), "-no-color", "-shellcheck", shellcheck, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def test_actionlint_passes_on_every_workflow():
    paths = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {CI, RELEASE} <= set(paths)
    result = actionlint(*paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_and_shellcheck_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: nowhere\n"
        "    steps:\n      - run: echo $UNQUOTED\n"
    )
    result = actionlint(broken)
    assert result.returncode == 1
    assert "SC2086" in result.stdout  # shellcheck ran on the run: block
    assert 'needs job "nowhere" which does not exist' in result.stdout


def test_pull_requests_run_the_readme_test_command():
    assert readme_test_command() == "make test"
    assert pr_problems(load(CI), readme_test_command()) == []
    assert readme_test_command() in (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()


def test_main_runs_on_pushes_to_main_only():
    assert triggers(load(RELEASE))["push"] == {"branches": ["main"]}


@pytest.mark.parametrize(
    "check", [order_problems, trivy_problems, digest_problems, environment_problems, pin_problems]
)
def test_release_workflow_rules(check):
    assert check(load(RELEASE)) == []


def test_no_static_credentials():
    for path in (CI, RELEASE):
        assert secret_problems(load(path), path.read_text()) == [], path.name


def test_ci_actions_are_pinned():
    assert pin_problems(load(CI)) == []


# --- each rule finds what it is about --------------------------------------------------------


def broken(mutate) -> dict:
    workflow = copy.deepcopy(load(RELEASE))
    mutate(workflow)
    return workflow


def trivy_step(workflow: dict, kind: str = "image") -> dict:
    for _, step in steps(workflow):
        with_ = step.get("with", {})
        is_gate = step.get("uses", "").startswith(TRIVY) and "format" not in with_
        if is_gate and with_.get("scan-type") == kind:
            return with_
    raise AssertionError(kind)


def run_step(workflow: dict, job: str, needle: str) -> dict:
    return next(s for s in workflow["jobs"][job]["steps"] if needle in s.get("run", ""))


MUTATIONS = {
    "smoke skips staging": (order_problems, lambda w: w["jobs"]["smoke"].update(needs=["build"])),
    "canary before smoke": (
        order_problems,
        lambda w: w["jobs"]["smoke"].update(needs=["staging", "canary"]),
    ),
    "rollback always": (order_problems, lambda w: w["jobs"]["rollback"].pop("if")),
    "no judge": (order_problems, lambda w: w["jobs"]["canary"]["steps"].pop()),
    "scan does not fail": (trivy_problems, lambda w: trivy_step(w).update({"exit-code": "0"})),
    "config scan too lax": (
        trivy_problems,
        lambda w: trivy_step(w, "config").update(severity="MEDIUM,HIGH,CRITICAL"),
    ),
    "tagged push": (
        digest_problems,
        lambda w: w["jobs"]["build"]["steps"][-1]["with"].update(tags="lakehouse-jobs:latest"),
    ),
    "deploy by tag": (
        digest_problems,
        lambda w: run_step(w, "staging", "kustomize edit").update(
            run="kustomize edit set image lakehouse-serving=registry/lakehouse-serving:latest"
        ),
    ),
    "image from a tag": (
        digest_problems,
        lambda w: w["jobs"]["scan"]["env"].update(SERVING_IMAGE="registry/x:${{ github.sha }}"),
    ),
    "static key": (
        lambda w: secret_problems(w, ""),
        lambda w: w["jobs"]["build"]["steps"][1]["with"].update(
            {"aws-access-key-id": "${{ secrets.KEY }}"}
        ),
    ),
    "key in env": (
        lambda w: secret_problems(w, ""),
        lambda w: w["env"].update(AWS_SECRET_ACCESS_KEY="${{ secrets.AWS }}"),
    ),
    "no OIDC token": (
        lambda w: secret_problems(w, ""),
        lambda w: w["jobs"]["scan"]["permissions"].pop("id-token"),
    ),
    "unprotected prod": (environment_problems, lambda w: w["jobs"]["promote"].pop("environment")),
    "tag pin": (
        pin_problems,
        lambda w: w["jobs"]["build"]["steps"][0].update(uses="actions/checkout@v4"),
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_rule_catches_its_problem(name):
    check, mutate = MUTATIONS[name]
    assert check(broken(mutate)) != []


def test_the_pr_rule_catches_another_command():
    workflow = copy.deepcopy(load(CI))
    run_step(workflow, "test", "make test").update(run="make test PYTEST_ARGS=-x")
    assert pr_problems(workflow, "make test") != []


def test_a_literal_access_key_is_found():
    assert secret_problems(load(RELEASE), "key: AKIAABCDEFGHIJKLMNOP") != []
