"""The Kubernetes manifests (infra/k8s): the base and each overlay rendered with kustomize, every
object validated offline by kubeconform against the Kubernetes API's schemas and the custom
resources' (infra/tools/k8s_schemas.py), then the deployment policies asserted on what an
overlay renders: restricted pods, images by digest, no static AWS keys, secrets only from
AWS Secrets Manager, probes on the service's real routes, the autoscaler, disruption budget,
ServiceMonitor and network policies on the serving pods, jobs that never overlap.

The validators are built by `make tools` (infra/tools/go-tools.txt); the schemas come from the
kubernetes-validate package and from CRDs in Go module zips (no network once cached).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lakehouse.config import PROJECT_ROOT
from tests.support.kustomize import IMAGES, K8S, OVERLAYS, build, named, of_kind, render
from tests.support.tools import tool

SERVING_PORT = 8000
DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/[\w+=,.@-]+$")
STATIC_KEY = re.compile(r"^AWS_.*(KEY|SECRET|TOKEN)", re.IGNORECASE)
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "SecretStore", "ExternalSecret"}


def schemas():
    path = PROJECT_ROOT / "infra" / "tools" / "k8s_schemas.py"
    spec = importlib.util.spec_from_file_location("k8s_schemas", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """Each kustomization's output, in a file: the base, then the overlays."""
    folder = tmp_path_factory.mktemp("k8s")
    files = {}
    for name, source in [("base", K8S / "base")] + [(e, K8S / "overlays" / e) for e in OVERLAYS]:
        files[name] = folder / f"{name}.yaml"
        files[name].write_text(build(source))
    return files


def objects(rendered: dict[str, Path], env: str) -> list[dict]:
    documents = [d for d in yaml.safe_load_all(rendered[env].read_text()) if d]
    assert documents, env
    return documents


def pod_templates(documents: list[dict]) -> list[tuple[dict, dict]]:
    """(owner, pod template) for every object that makes pods."""
    pods = []
    for d in documents:
        if d["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            pods.append((d, d["spec"]["template"]))
        elif d["kind"] == "CronJob":
            pods.append((d, d["spec"]["jobTemplate"]["spec"]["template"]))
        elif d["kind"] == "Pod":
            pods.append((d, d))
    return pods


def containers(pod: dict) -> list[dict]:
    return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector picks these labels (the manifests use matchLabels only)."""
    assert set(selector) <= {"matchLabels"}, selector
    return selector.get("matchLabels", {}).items() <= labels.items()


def configmap_env(documents: list[dict], namespace: str, container: dict) -> dict[str, str]:
    """A container's plain environment: its ConfigMaps (envFrom) and its literal values."""
    values = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            values.update(named(documents, "ConfigMap", name, namespace)["data"])
    values.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return values


# --- schemas ---------------------------------------------------------------------------------


def gibibytes(quantity: str) -> float:
    """A memory size as Kubernetes (``8Gi``, ``512Mi``) or the JVM (``6g``, ``512m``) writes it."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?|[kmgt])?", quantity).groups()
    power = "KMGT".index(unit[0].upper()) + 1 if unit else 0
    return float(number) * 1024**power / 1024**3


def kubeconform(*paths: Path) -> tuple[int, dict]:
    module = schemas()
    command = [
        str(tool("kubeconform")),
        "-strict",
        "-summary",
        "-output",
        "json",
        "-kubernetes-version",
        module.KUBERNETES_VERSION,
    ]
    for location in module.schema_locations():
        command += ["-schema-location", location]
    result = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True)
    report = json.loads(result.stdout)
    return result.returncode, report


def test_every_rendered_object_is_valid_against_the_api_and_crd_schemas(rendered):
    code, report = kubeconform(*rendered.values())
    problems = [r for r in report["resources"] if r["status"] != "statusValid"]
    assert code == 0 and not problems, json.dumps(problems, indent=1)
    total = sum(len(objects(rendered, name)) for name in rendered)
    summary = report["summary"]
    # every object had a schema: none skipped, none missing
    assert summary == {"valid": total, "invalid": 0, "errors": 0, "skipped": 0}
    kinds = {d["kind"] for name in rendered for d in objects(rendered, name)}
    assert kinds >= CUSTOM_KINDS


def test_the_validator_refuses_what_the_cluster_would(tmp_path):
    """The schemas bite: a misspelt field in a built-in kind and in each custom kind we use, an
    unknown kind."""
    deployment = yaml.safe_load((K8S / "base" / "serving" / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {
        "readOnlyRootFileSystem": True
    }
    monitor = yaml.safe_load((K8S / "base" / "monitoring" / "service-monitor.yaml").read_text())
    monitor["spec"]["endpoints"][0]["authorization"]["credential"] = {"name": "x", "key": "y"}
    rule = yaml.safe_load((K8S / "base" / "monitoring" / "prometheus-rule.yaml").read_text())
    rule["spec"]["groups"][0]["rules"][0]["severity"] = "page"
    _, store, external = yaml.safe_load_all((K8S / "base" / "serving" / "secrets.yaml").read_text())
    external["spec"]["data"][0]["remoteRef"]["propertee"] = "api_key"
    store["spec"]["provider"]["aws"]["accessKeyID"] = "AKIA"
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}
    bad = [deployment, monitor, rule, store, external, unknown]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump_all(bad))
    code, report = kubeconform(path)
    statuses = {r["kind"]: r["status"] for r in report["resources"]}
    assert code != 0
    assert statuses == {
        "Deployment": "statusInvalid",
        "ServiceMonitor": "statusInvalid",
        "PrometheusRule": "statusInvalid",
        "SecretStore": "statusInvalid",
        "ExternalSecret": "statusInvalid",
        "Widget": "statusError",  # no schema: refused, not skipped
    }


# --- policies on each overlay ----------------------------------------------------------------


@pytest.mark.parametrize("env", OVERLAYS)
def test_every_pod_meets_the_restricted_pod_security_standard(rendered, env):
    documents = objects(rendered, env)
    pods = pod_templates(documents)
    assert {owner["kind"] for owner, _ in pods} == {"Deployment", "CronJob"}
    for owner, pod in pods:
        where = f"{owner['kind']}/{owner['metadata']['name']}"
        spec = pod["spec"]
        security = spec.get("securityContext", {})
        assert security.get("runAsNonRoot") is True, where
        assert security.get("runAsUser", 1) != 0, where
        assert security.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where
        assert spec.get("automountServiceAccountToken") is False, where
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert not any("hostPath" in v for v in volumes.values()), where
        for container in containers(pod):
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("privileged") is not True, where
            assert context.get("capabilities") == {"drop": ["ALL"]}, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("runAsUser", 1) != 0, where
            # the writable places: a scratch emptyDir at /tmp (HOME and TMPDIR point there)
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
            assert "emptyDir" in mounts["/tmp"], where
            assert "sizeLimit" in mounts["/tmp"]["emptyDir"], where
            assert "limits" in container["resources"] and "requests" in container["resources"]
    namespaces = of_kind(documents, "Namespace")
    used = {owner["metadata"]["namespace"] for owner, _ in pods}
    assert used and used <= {n["metadata"]["name"] for n in namespaces}
    for namespace in namespaces:
        labels = namespace["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", namespace


@pytest.mark.parametrize("env", OVERLAYS)
def test_every_image_is_pinned_by_digest(rendered, env):
    images = [
        c["image"] for _, pod in pod_templates(objects(rendered, env)) for c in containers(pod)
    ]
    assert images
    for image in images:
        assert DIGEST.match(image), image


@pytest.mark.parametrize("env", OVERLAYS)
def test_aws_access_comes_from_iam_roles_never_static_keys(rendered, env):
    documents = objects(rendered, env)
    pods = pod_templates(documents)
    assert pods
    names = [e["name"] for _, pod in pods for c in containers(pod) for e in c.get("env", [])] + [
        key for m in of_kind(documents, "ConfigMap") for key in m.get("data", {})
    ]
    assert names
    assert not [n for n in names if STATIC_KEY.match(n)]
    assert not of_kind(documents, "Secret")  # no secret values in the manifests
    accounts = {
        (a["metadata"]["namespace"], a["metadata"]["name"]): a
        for a in of_kind(documents, "ServiceAccount")
    }
    used = {(o["metadata"]["namespace"], p["spec"]["serviceAccountName"]) for o, p in pods}
    # the External Secrets stores authenticate as a service account too
    used |= {
        (
            s["metadata"]["namespace"],
            s["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"],
        )
        for s in of_kind(documents, "SecretStore")
    }
    assert len(used) >= 4 and used <= set(accounts)
    roles = set()
    for key in used:
        role = accounts[key]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert ROLE_ARN.match(role) and f"-{env}-" in role, (key, role)
        roles.add(role)
    assert len(roles) == len(used)  # one role per identity: least privilege


@pytest.mark.parametrize("env", OVERLAYS)
def test_secrets_come_from_aws_secrets_manager(rendered, env):
    documents = objects(rendered, env)
    stores = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): s
        for s in of_kind(documents, "SecretStore")
    }
    made = {}
    for external in of_kind(documents, "ExternalSecret"):
        namespace = external["metadata"]["namespace"]
        store = stores[(namespace, external["spec"]["secretStoreRef"]["name"])]
        assert store["spec"]["provider"]["aws"]["service"] == "SecretsManager"
        for item in external["spec"]["data"]:
            # the env's own secrets, named like conf/<env>/lakehouse.yml's
            assert item["remoteRef"]["key"].startswith(f"lakehouse/{env}/"), item
        made[(namespace, external["spec"]["target"]["name"])] = {
            i["secretKey"] for i in external["spec"]["data"]
        }
    used = []
    for owner, pod in pod_templates(documents):
        namespace = owner["metadata"]["namespace"]
        for container in containers(pod):
            for e in container.get("env", []):
                if "secretKeyRef" in e.get("valueFrom", {}):
                    ref = e["valueFrom"]["secretKeyRef"]
                    used.append((namespace, ref["name"], ref["key"]))
            assert not any("secretRef" in s for s in container.get("envFrom", []))
        assert not any("secret" in v for v in pod["spec"].get("volumes", []))
    for monitor in of_kind(documents, "ServiceMonitor"):
        for endpoint in monitor["spec"]["endpoints"]:
            ref = endpoint["authorization"]["credentials"]
            used.append((monitor["metadata"]["namespace"], ref["name"], ref["key"]))
    assert len(used) >= 2
    for namespace, name, key in used:
        assert key in made.get((namespace, name), set()), (namespace, name, key)


@pytest.mark.parametrize("env", OVERLAYS)
def test_the_service_probes_its_real_routes_with_the_envs_settings(rendered, env, tmp_path):
    from lakehouse.config import load_settings
    from serving.main import create_app

    documents = objects(rendered, env)
    deployment = named(documents, "Deployment", "lakehouse-serving", "lakehouse")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": SERVING_PORT}  # the image's entrypoint serves on 8000
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert {kind: probe["path"] for kind, probe in probes.items()} == {
        "startupProbe": "/health",
        "livenessProbe": "/health",
        "readinessProbe": "/ready",
    }
    assert all(probe["port"] in ports for probe in probes.values())
    # building the app loads nothing (that happens in its lifespan), so this is cheap
    app = create_app(settings=load_settings(lake=str(tmp_path)))
    paths = set(app.openapi()["paths"])
    assert {probe["path"] for probe in probes.values()} | {"/metrics"} <= paths
    # the pods run with the env's settings and API keys (authentication is on outside local)
    environment = configmap_env(documents, "lakehouse", container)
    assert environment["LAKEHOUSE_ENV"] == env
    assert load_settings(env).secrets.api_keys
    assert environment["MLFLOW_TRACKING_URI"].startswith("http://mlflow.mlops.svc")
    # the service tokenizes nothing: it is never handed the PII key
    assert "LAKEHOUSE_HMAC_KEY" not in environment
    # replicas belong to the autoscaler
    assert "replicas" not in deployment["spec"]


@pytest.mark.parametrize("env", OVERLAYS)
def test_autoscaler_budget_monitor_and_network_policy_pick_the_serving_pods(rendered, env):
    documents = objects(rendered, env)
    deployment = named(documents, "Deployment", "lakehouse-serving", "lakehouse")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    other_pods = [
        pod["metadata"]["labels"]
        for owner, pod in pod_templates(documents)
        if owner is not deployment
    ]
    assert other_pods

    (hpa,) = of_kind(documents, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "lakehouse-serving")
    assert hpa["metadata"]["namespace"] == "lakehouse"
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]

    (budget,) = of_kind(documents, "PodDisruptionBudget")
    assert budget["metadata"]["namespace"] == "lakehouse"
    assert selects(budget["spec"]["selector"], labels)
    assert not any(selects(budget["spec"]["selector"], o) for o in other_pods)
    # one pod at a time, and the autoscaler keeps at least two: one always serves
    assert budget["spec"]["maxUnavailable"] == 1

    (monitor,) = of_kind(documents, "ServiceMonitor")
    services = [
        s
        for s in of_kind(documents, "Service")
        if s["metadata"]["namespace"] == monitor["metadata"]["namespace"]
        and selects(monitor["spec"]["selector"], s["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in services] == ["lakehouse-serving"]
    (service,) = services
    assert service["spec"]["selector"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    container_ports = {
        p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert port["targetPort"] in container_ports
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["type"] == "Bearer"

    policies = of_kind(documents, "NetworkPolicy")
    serving = [
        p
        for p in policies
        if p["metadata"]["namespace"] == "lakehouse"
        and p["spec"]["podSelector"]
        and selects(p["spec"]["podSelector"], labels)
    ]
    assert len(serving) == 1
    ingress_ports = {
        port["port"] for rule in serving[0]["spec"]["ingress"] for port in rule["ports"]
    }
    assert ingress_ports == {SERVING_PORT}
    # everything else is denied: a default-deny policy in every namespace with pods
    namespaces = {owner["metadata"]["namespace"] for owner, _ in pod_templates(documents)}
    assert namespaces == {"lakehouse", "mlops"}
    for namespace in namespaces:
        assert any(
            p["metadata"]["namespace"] == namespace
            and p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
            for p in policies
        ), namespace
    # every pod has a policy of its own that lets it reach what it needs
    for owner, pod in pod_templates(documents):
        assert any(
            p["metadata"]["namespace"] == owner["metadata"]["namespace"]
            and p["spec"]["podSelector"]
            and selects(p["spec"]["podSelector"], pod["metadata"]["labels"])
            for p in policies
        ), owner["metadata"]["name"]


@pytest.mark.parametrize("env", OVERLAYS)
def test_the_scheduled_jobs_never_overlap_and_run_real_commands(rendered, env):
    documents = objects(rendered, env)
    cron_jobs = of_kind(documents, "CronJob")
    assert cron_jobs
    schedules = {}
    for cron_job in cron_jobs:
        name = cron_job["metadata"]["name"]
        # the lake has one writer at a time (lakehouse/io/lake_lock.py): never two runs of one
        assert cron_job["spec"]["concurrencyPolicy"] == "Forbid", name
        job = cron_job["spec"]["jobTemplate"]["spec"]
        pod = job["template"]["spec"]
        assert pod["restartPolicy"] == "Never", name
        (container,) = pod["containers"]
        # infra/spark-submit.sh <spark options> jobs/<command>.py <lakehouse options>
        assert (PROJECT_ROOT / container["command"][0]).is_file(), name
        # the local-mode JVM is sized from the pod's limit (spark-submit's default heap is
        # 1 GiB): infra/spark-submit.sh reads it from the downward API
        assert gibibytes(container["resources"]["limits"]["memory"]) >= 2, name
        (limit,) = [e for e in container["env"] if e["name"] == "LAKEHOUSE_MEMORY_LIMIT_MIB"]
        field = limit["valueFrom"]["resourceFieldRef"]
        assert (field["resource"], field["divisor"]) == ("limits.memory", "1Mi"), name
        assert field["containerName"] == container["name"], name
        script = container["args"][0]
        assert script.startswith("jobs/") and (PROJECT_ROOT / script).is_file(), name
        environment = configmap_env(documents, "lakehouse", container)
        assert environment["LAKEHOUSE_ENV"] == env
        # $(VAR) in the arguments names a variable the container has
        for variable in re.findall(r"\$\((\w+)\)", " ".join(container["args"])):
            assert variable in environment, (name, variable)
        # a held lake (75) or a refused secret (78) is not retried into the next run
        (rule,) = job["podFailurePolicy"]["rules"]
        assert rule["action"] == "FailJob" and {75, 78} <= set(rule["onExitCodes"]["values"])
        schedules[script] = cron_job["spec"]["schedule"]
    minute, hour, *_ = schedules["jobs/run.py"].split()
    assert minute.isdigit() and hour == "*"  # the pipeline runs hourly


def lock_wait_s(container: dict) -> float:
    """What a command's ``--set lock.wait_s=N`` asks for (the last one wins), else the default."""
    from lakehouse.config import load_settings

    args = container["args"]
    sets = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--set"]
    overrides = [s for s in sets if s.startswith("lock.wait_s=")]
    return load_settings(overrides=overrides[-1:]).lock.wait_s


def test_the_stream_runs_alone_and_the_schedule_waits_for_its_cycles(rendered):
    """`lakehouse stream` (infra/k8s/components/stream) in staging: one pod, replaced only once
    the old one is gone, given time to end its cycle on SIGTERM; every scheduled command waits
    for a cycle to let the lake's lock go instead of failing with exit 75."""
    from lakehouse.config import load_settings

    documents = objects(rendered, "staging")
    deployment = named(documents, "Deployment", "lakehouse-stream", "lakehouse")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert (PROJECT_ROOT / container["command"][0]).is_file()
    assert container["args"][0] == "jobs/stream.py" and (PROJECT_ROOT / "jobs/stream.py").is_file()
    environment = configmap_env(documents, "lakehouse", container)
    assert environment["LAKEHOUSE_ENV"] == "staging"
    for variable in re.findall(r"\$\((\w+)\)", " ".join(container["args"])):
        assert variable in environment, variable
    (limit,) = [e for e in container["env"] if e["name"] == "LAKEHOUSE_MEMORY_LIMIT_MIB"]
    assert limit["valueFrom"]["resourceFieldRef"]["containerName"] == container["name"]
    assert gibibytes(container["resources"]["limits"]["memory"]) >= 2
    # the jobs' identity and network policy: it writes the lake as they do
    cron_pod = of_kind(documents, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["serviceAccountName"] == cron_pod["spec"]["serviceAccountName"]
    policy = named(documents, "NetworkPolicy", "lakehouse-jobs", "lakehouse")
    assert selects(policy["spec"]["podSelector"], spec["template"]["metadata"]["labels"])
    assert selects(spec["selector"], spec["template"]["metadata"]["labels"])
    # SIGTERM ends the current cycle: a cycle at the trigger's pace fits in the grace period
    settings = load_settings("staging")
    assert pod["terminationGracePeriodSeconds"] >= 10 * settings.stream.trigger_s
    assert settings.lock.wait_s == 0  # without the component a command fails at once
    for cron_job in of_kind(documents, "CronJob"):
        (job,) = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert lock_wait_s(job) >= 5 * settings.stream.trigger_s, cron_job["metadata"]["name"]
    # prod runs the schedule alone: its commands fail at once on a held lake
    prod = objects(rendered, "prod")
    deployments = {d["metadata"]["name"] for d in of_kind(prod, "Deployment")}
    assert "lakehouse-serving" in deployments and "lakehouse-stream" not in deployments
    for cron_job in of_kind(prod, "CronJob"):
        (job,) = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert lock_wait_s(job) == 0, cron_job["metadata"]["name"]


def test_the_readmes_command_pins_a_new_digest(rendered, tmp_path):
    """CI's step (infra/k8s/README.md): `kustomize edit set image` in an overlay, then build."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    digest = "sha256:" + "ab" * 32
    image = f"registry.example/lakehouse-serving@{digest}"
    result = subprocess.run(
        [str(tool("kustomize")), "edit", "set", "image", f"lakehouse-serving={image}"],
        cwd=copy / "overlays" / "prod",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(build(copy / "overlays" / "prod")))
    deployment = named(documents, "Deployment", "lakehouse-serving", "lakehouse")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    before = named(objects(rendered, "prod"), "Deployment", "lakehouse-serving", "lakehouse")
    assert before["spec"]["template"]["spec"]["containers"][0]["image"] != image


# --- admission: no pod from a digest CI never set ---------------------------------------------


def admits(policy: dict, obj: dict) -> bool:
    """Whether the ValidatingAdmissionPolicy lets ``obj`` in: its variables evaluated in order,
    then every validation, by a CEL interpreter (the expressions the API server would run)."""
    import celpy

    environment = celpy.Environment()

    def evaluate(expression: str, activation: dict):
        program = environment.program(environment.compile(expression))
        return program.evaluate(activation)

    variables = celpy.celtypes.MapType({})
    activation = {"object": celpy.json_to_cel(obj), "variables": variables}
    for variable in policy["spec"].get("variables", []):  # each may use the ones before
        name = celpy.celtypes.StringType(variable["name"])
        variables[name] = evaluate(variable["expression"], activation)
    return all(bool(evaluate(v["expression"], activation)) for v in policy["spec"]["validations"])


def rules_cover(policy: dict, obj: dict) -> bool:
    """Whether the policy's resource rules match the object's kind on CREATE."""
    group, _, version = obj["apiVersion"].rpartition("/")
    resource = obj["kind"].lower() + "s"
    return any(
        group in rule["apiGroups"]
        and version in rule["apiVersions"]
        and resource in rule["resources"]
        and "CREATE" in rule["operations"]
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
    )


@pytest.mark.parametrize("env", OVERLAYS)
def test_the_cluster_refuses_images_whose_digest_ci_never_set(rendered, env, tmp_path):
    documents = objects(rendered, env)
    policy = named(documents, "ValidatingAdmissionPolicy", "lakehouse-image-digests-set", None)
    (binding,) = of_kind(documents, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    # bound to every namespace the pods run in
    namespaces = {n["metadata"]["name"]: n for n in of_kind(documents, "Namespace")}
    owners = pod_templates(documents)
    for owner, _ in owners:
        labels = namespaces[owner["metadata"]["namespace"]]["metadata"]["labels"]
        assert selects(binding["spec"]["matchResources"]["namespaceSelector"], labels)
        assert rules_cover(policy, owner), owner["kind"]
    # as rendered, every pod's image holds the placeholder: all refused
    assert owners and not [o["metadata"]["name"] for o, _ in owners if admits(policy, o)]
    # once CI set the three digests, all admitted
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    pins = [f"{n}=registry.example/{n}@sha256:{'ab' * 32}" for n in IMAGES]
    subprocess.run(
        [str(tool("kustomize")), "edit", "set", "image", *pins],
        cwd=copy / "overlays" / env,
        check=True,
        capture_output=True,
    )
    released = pod_templates(render(copy / "overlays" / env))
    refused = [o["metadata"]["name"] for o, _ in released if not admits(policy, o)]
    assert refused == []
    # one placeholder left anywhere, an init container's too, is refused
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "lakehouse"},
        "spec": {
            "initContainers": [{"name": "i", "image": f"r/x@sha256:{'0' * 64}"}],
            "containers": [{"name": "c", "image": f"r/y@sha256:{'ab' * 32}"}],
        },
    }
    assert rules_cover(policy, pod)
    assert not admits(policy, pod)
    pod["spec"]["initContainers"][0]["image"] = f"r/x@sha256:{'0' * 63}1"
    assert admits(policy, pod)
