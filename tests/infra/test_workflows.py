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
from tests.support.kustomize import IMAGES
from tests.support.tools import tool
from tests.support.workflows import RELEASE, TRIVY, WORKFLOWS

CI = WORKFLOWS / "ci.yml"
# the main workflow's jobs, each needing the one before; promote and rollback both follow canary
RELEASE_ORDER = ("build", "scan", "staging", "smoke", "copy", "canary")
AFTER_CANARY = ("promote", "rollback")

SBOM_FORMATS = {"cyclonedx", "spdx", "spdx-json"}
STATIC_KEY_INPUTS = {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"}
STATIC_KEY_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
ACTIONLINT_CONFIG = PROJECT_ROOT / ".github" / "actionlint.yaml"
# the GitHub environment of each release job, and the runner label of each environment's VPC
ENVIRONMENTS = dict.fromkeys(("build", "scan", "staging", "smoke"), "staging") | dict.fromkeys(
    ("copy", "canary", "promote", "rollback"), "production"
)
RUNNER_LABELS = {"staging": "lakehouse-staging", "production": "lakehouse-prod"}
# what only a runner inside the env's VPC can reach: the private API endpoint, ClusterIP services
CLUSTER_COMMANDS = re.compile(r"\bkubectl\b|update-kubeconfig|SERVICE_URL")
# an image as every deploying job names it: its env's registry, the build job's digest
IMAGE_REF = re.compile(
    r"\$\{\{ vars\.ECR_REGISTRY \}\}/lakehouse-(\w+)"
    r"@\$\{\{ needs\.build\.outputs\.(\w+)-digest \}\}"
)
DIGEST_INPUT = "^sha256:[0-9a-f]{64}$"


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
    """Images are pushed without a tag and every later use names them by their digest: the one
    the build job pushed, or on a manual run the one it was given (checked there)."""
    problems = []
    build = workflow["jobs"]["build"]
    pushes = {}
    for step in build["steps"]:
        if step.get("uses", "").startswith("docker/build-push-action@"):
            outputs = step.get("with", {}).get("outputs", "")
            if "push-by-digest=true" not in outputs or step["with"].get("tags"):
                problems.append(f"build step {step.get('id')} does not push by digest only")
            image = re.search(r"/lakehouse-(\w+),", outputs)
            pushes[step.get("id")] = image and image[1]
    digests = {k: v for k, v in build.get("outputs", {}).items() if k.endswith("-digest")}
    if {k.removesuffix("-digest") for k in digests} != {
        i.removeprefix("lakehouse-") for i in IMAGES
    }:
        problems.append(f"build outputs {sorted(digests)}: not one digest per image")
    for name, value in digests.items():
        image = name.removesuffix("-digest")
        match = re.fullmatch(
            r"\$\{\{ steps\.(\w+)\.outputs\.digest \|\| inputs\.(\w+)_digest \}\}", value
        )
        if not match or pushes.get(match[1]) != image or match[2] != image:
            problems.append(f"build output {name} is not {image}'s pushed or given digest: {value}")
    # every image the later jobs use is an env's registry and one of those digests
    for job_name, job in workflow["jobs"].items():
        env = {**workflow.get("env", {}), **job.get("env", {})}
        for key, value in env.items():
            if key.endswith("_IMAGE"):
                match = IMAGE_REF.fullmatch(str(value))
                image = key.removesuffix("_IMAGE").lower()
                if not match or match[1] != image or match[2] != image:
                    problems.append(f"{job_name}: {key} is not the build's digest: {value}")
        for step in job.get("steps", []):
            text = step.get("run", "") + str(step.get("with", {}).get("image-ref", ""))
            pins = re.findall(r"(lakehouse-(?:serving|jobs|mlflow))[=:]([^\s\"']+)", text)
            for image, ref in pins:
                if not re.fullmatch(r"\$\{?[A-Z_]+_(IMAGE|DIGEST)\}?", ref):
                    problems.append(f"{job_name}: {image} set to {ref}, not a digest variable")
    return problems


def same_digest_problems(workflow: dict) -> list[str]:
    """Staging and prod run the same bytes: every job of either environment names its images
    by the very same build outputs, and the copy job moves exactly those digests."""
    used: dict[str, set[str]] = {"staging": set(), "production": set()}
    for job in workflow["jobs"].values():
        if job.get("environment") in used:
            text = yaml.safe_dump(job, width=1000)
            used[job["environment"]] |= set(re.findall(r"needs\.build\.outputs\.([\w-]+)", text))
    digests = {f"{i.removeprefix('lakehouse-')}-digest" for i in IMAGES}
    problems = []
    for environment, outputs in used.items():
        if outputs - digests - {"registry"}:
            problems.append(f"{environment} uses build outputs {sorted(outputs)}")
        if not digests <= outputs:
            problems.append(f"{environment} does not deploy the digests {sorted(digests)}")
    copy = workflow["jobs"].get("copy", {})
    env = copy.get("env", {})
    runs = " ".join(step.get("run", "") for step in copy.get("steps", []))
    for image in IMAGES:
        short = image.removeprefix("lakehouse-")
        variable = f"{short.upper()}_DIGEST"
        if env.get(variable) != f"${{{{ needs.build.outputs.{short}-digest }}}}":
            problems.append(f"copy: {variable} is not the build's {short} digest")
        if f"{image}=${variable}" not in runs:
            problems.append(f"copy: {image} is not copied at ${variable}")
    pattern = re.compile(
        r'crane copy "\$SOURCE_REGISTRY/\$image@\$digest" "\$ECR_REGISTRY/\$image@\$digest"'
    )
    if not pattern.search(runs) or not re.search(r"crane digest", runs):
        problems.append("copy: no `crane copy` of each digest into the env's registry, checked")
    if env.get("SOURCE_REGISTRY") != "${{ needs.build.outputs.registry }}":
        problems.append("copy: the source is not the registry the build pushed to")
    return problems


def dispatch_problems(workflow: dict) -> list[str]:
    """A manual run redeploys given digests: it takes one per image, checks each is
    sha256:<64 hex>, and builds nothing."""
    problems = []
    inputs = (triggers(workflow).get("workflow_dispatch") or {}).get("inputs", {})
    names = {f"{i.removeprefix('lakehouse-')}_digest" for i in IMAGES}
    if set(inputs) != names or not all(inputs[n].get("required") for n in names):
        problems.append(f"workflow_dispatch inputs {sorted(inputs)}, not {sorted(names)} required")
    build = workflow["jobs"]["build"]
    for step in build["steps"]:
        is_build = step.get("uses", "").startswith("docker/build-push-action@")
        if is_build and step.get("if") != "github.event_name == 'push'":
            problems.append(f"build step {step.get('id')} also runs on a manual run")
    checks = [s for s in build["steps"] if DIGEST_INPUT in s.get("run", "").replace("{{", "{")]
    if len(checks) != 1:
        problems.append("no build step checks the given digests against sha256:<64 hex>")
    else:
        (check,) = checks
        if check.get("if") != "github.event_name == 'workflow_dispatch'":
            problems.append("the digest check does not run on manual runs")
        given = set(re.findall(r"inputs\.(\w+)", str(check.get("env", {}))))
        if given != names:
            problems.append(f"the digest check reads {sorted(given)}")
    return problems


def runner_problems(workflow: dict, labels: list[str]) -> list[str]:
    """Jobs that talk to a cluster run on a self-hosted runner of their env's VPC (the API
    endpoint is private, the services ClusterIP); the labels are declared for actionlint."""
    problems = []
    for name, job in workflow["jobs"].items():
        runs = " ".join(step.get("run", "") for step in job.get("steps", []))
        env = " ".join(map(str, job.get("env", {}))) + " " + str(job.get("steps", []))
        runs_on = job.get("runs-on")
        if CLUSTER_COMMANDS.search(runs) or CLUSTER_COMMANDS.search(env):
            label = RUNNER_LABELS.get(job.get("environment"))
            if runs_on != ["self-hosted", label]:
                problems.append(
                    f"{name} reaches a cluster from {runs_on}, not [self-hosted, {label}]"
                )
        elif isinstance(runs_on, list) and "self-hosted" in runs_on:
            problems.append(f"{name} needs no cluster but holds a self-hosted runner")
    for label in RUNNER_LABELS.values():
        if label not in labels:
            problems.append(f"runner label {label} is not declared in .github/actionlint.yaml")
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
    problems = [
        f"{name} is not in the {env} environment"
        for name, env in ENVIRONMENTS.items()
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


def actionlint_labels() -> list[str]:
    return yaml.safe_load(ACTIONLINT_CONFIG.read_text())["self-hosted-runner"]["labels"]


def runners(workflow: dict) -> list[str]:
    return runner_problems(workflow, actionlint_labels())


RULES = [
    order_problems,
    trivy_problems,
    digest_problems,
    same_digest_problems,
    dispatch_problems,
    environment_problems,
    pin_problems,
    runners,
]


@pytest.mark.parametrize("check", RULES)
def test_release_workflow_rules(check):
    assert check(load(RELEASE)) == []


def test_staging_and_prod_deploy_one_build_output_per_image():
    """The digest prod runs is the digest staging tested: both name the same build output."""
    workflow = load(RELEASE)
    for job in ("staging", "canary", "promote"):
        env = workflow["jobs"][job]["env"]
        assert [IMAGE_REF.fullmatch(env[f"{i}_IMAGE"]).group(2) for i in ("SERVING", "JOBS")] == [
            "serving",
            "jobs",
        ], job
    assert (
        workflow["jobs"]["staging"]["env"]["SERVING_IMAGE"]
        == (workflow["jobs"]["canary"]["env"]["SERVING_IMAGE"])
    )
    assert (
        workflow["jobs"]["smoke"]["env"]["JOBS_IMAGE"]
        == (workflow["jobs"]["promote"]["env"]["JOBS_IMAGE"])
    )


def test_the_copy_installs_a_pinned_crane():
    runs = " ".join(s.get("run", "") for s in load(RELEASE)["jobs"]["copy"]["steps"])
    (version,) = re.findall(
        r"go install github\.com/google/go-containerregistry/cmd/crane@(\S+)", runs
    )
    assert re.fullmatch(r"v\d+\.\d+\.\d+", version)


def test_actionlint_refuses_the_runner_labels_without_its_configuration(tmp_path):
    copy = tmp_path / ".github" / "workflows" / "release.yml"
    copy.parent.mkdir(parents=True)
    copy.write_text(RELEASE.read_text())
    result = subprocess.run(
        [tool("actionlint"), "-no-color", "-shellcheck=", str(copy)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1
    assert 'label "lakehouse-staging" is unknown' in result.stdout


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
    "build outside staging": (
        environment_problems,
        lambda w: w["jobs"]["build"].pop("environment"),
    ),
    "prod deploys another output": (
        same_digest_problems,
        lambda w: w["jobs"]["canary"]["env"].update(
            SERVING_IMAGE="${{ vars.ECR_REGISTRY }}/lakehouse-serving"
            "@${{ needs.build.outputs.canary-digest }}"
        ),
    ),
    "copy moves another digest": (
        same_digest_problems,
        lambda w: w["jobs"]["copy"]["env"].update(JOBS_DIGEST="${{ inputs.jobs_digest }}"),
    ),
    "copy re-tags": (
        same_digest_problems,
        lambda w: run_step(w, "copy", "crane copy").update(
            run=run_step(w, "copy", "crane copy")["run"].replace(
                '"$ECR_REGISTRY/$image@$digest"', '"$ECR_REGISTRY/$image:latest"'
            )
        ),
    ),
    "image from another registry": (
        digest_problems,
        lambda w: w["jobs"]["promote"]["env"].update(
            JOBS_IMAGE="${{ needs.build.outputs.registry }}/lakehouse-jobs"
            "@${{ needs.build.outputs.jobs-digest }}"
        ),
    ),
    "output not the pushed digest": (
        digest_problems,
        lambda w: w["jobs"]["build"]["outputs"].update(
            {"jobs-digest": "${{ steps.serving.outputs.digest || inputs.jobs_digest }}"}
        ),
    ),
    "dispatch builds": (
        dispatch_problems,
        lambda w: w["jobs"]["build"]["steps"][-1].pop("if"),
    ),
    "digest unchecked": (
        dispatch_problems,
        lambda w: w["jobs"]["build"]["steps"].remove(run_step(w, "build", "imagetools inspect")),
    ),
    "optional digest": (
        dispatch_problems,
        lambda w: triggers(w)["workflow_dispatch"]["inputs"]["jobs_digest"].update(required=False),
    ),
    "kubectl from GitHub's runners": (
        runners,
        lambda w: w["jobs"]["promote"].update({"runs-on": "ubuntu-24.04"}),
    ),
    "staging runner in prod": (
        runners,
        lambda w: w["jobs"]["rollback"].update({"runs-on": ["self-hosted", "lakehouse-staging"]}),
    ),
    "smoke from GitHub's runners": (
        runners,
        lambda w: w["jobs"]["smoke"].update({"runs-on": "ubuntu-24.04"}),
    ),
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
