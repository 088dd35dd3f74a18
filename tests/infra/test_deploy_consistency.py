"""What the Kubernetes overlays (infra/k8s/overlays/<env>) and the release workflow name is what
the Terraform of the same env (infra/terraform/envs/<env>) makes: the IAM roles of the service
accounts, trusted by exactly those accounts; the Secrets Manager ids the ExternalSecrets read,
and the role of each store may read them; the buckets in the ConfigMaps and in conf/<env>; the
ECR repositories of the overlays' images and of the workflow's pushes; the GitHub environments
the CI roles trust.

The overlays are rendered with kustomize, the Terraform parsed with python-hcl2 (no provider).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.config import PROJECT_ROOT, load_settings
from tests.support.kustomize import K8S, OVERLAYS, named, of_kind, render
from tests.support.terraform import TERRAFORM, Config, load_config, resolve, statements, strings
from tests.support.workflows import RELEASE

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/([\w+=,.@-]+)")
ECR_IMAGE = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([\w./-]+)")
S3_URI = re.compile(r"s3a?://([a-z0-9.-]+)(?:/([^\s\"']*))?")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {env: render(K8S / "overlays" / env) for env in OVERLAYS}


@pytest.fixture(scope="module")
def terraform() -> dict[str, Config]:
    configs = {env: load_config(TERRAFORM / "envs" / env) for env in OVERLAYS}
    configs |= {m: load_config(TERRAFORM / "modules" / m) for m in ("iam", "secrets", "database")}
    return configs


def argument(env: Config, module: str, name: str) -> Any:
    """A module call's argument in an env, its locals resolved."""
    return resolve(env.modules[module][name], env.locals)


def region(env: Config) -> str:
    return env.variables["region"]["default"]


def irsa_roles(terraform: dict[str, Config], env: str) -> dict[str, tuple[str, str]]:
    """Role name -> the (namespace, service account) its trust policy admits."""
    iam = terraform["iam"]
    # the names and the trust, as modules/iam writes them (tests/infra/test_terraform.py)
    assert (
        iam.of_type("aws_iam_role")["this"]["name"] == '${var.name}-${replace(each.key, "_", "-")}'
    )
    (statement,) = statements(iam.documents()["trust"])
    subjects = [c["values"] for c in statement["condition"] if c["variable"].endswith(":sub")]
    assert subjects == [["system:serviceaccount:${each.value.namespace}:${each.value.name}"]]
    prefix = argument(terraform[env], "iam", "name")
    accounts = iam.locals["service_accounts"]
    assert accounts
    return {
        f"{prefix}-{key.replace('_', '-')}": (a["namespace"], a["name"])
        for key, a in accounts.items()
    }


@pytest.mark.parametrize("env", OVERLAYS)
def test_service_accounts_are_bound_to_the_roles_terraform_makes_for_them(rendered, terraform, env):
    roles = irsa_roles(terraform, env)
    annotated = {}
    accounts = set()
    for account in of_kind(rendered[env], "ServiceAccount"):
        arn = account["metadata"].get("annotations", {}).get(ROLE_ANNOTATION)
        if arn:
            match = ROLE_ARN.fullmatch(arn)
            assert match, arn
            accounts.add(match.group(1))
            key = (account["metadata"]["namespace"], account["metadata"]["name"])
            annotated[key] = match.group(2)
    assert annotated
    # every annotation names a role Terraform makes, whose trust admits exactly that account,
    # and every role Terraform makes for a service account is used by it
    assert {role: key for key, role in annotated.items()} == roles
    assert len(accounts) == 1, accounts  # one AWS account per env


def secret_behind(terraform: dict[str, Config], env: str, iam_variable: str) -> str:
    """The Secrets Manager id behind one of modules/iam's secret ARN variables in an env."""
    config = terraform[env]
    output = re.fullmatch(r"\$\{module\.secrets\.(\w+)\}", config.modules["iam"][iam_variable])
    assert output, iam_variable
    secrets = terraform["secrets"]
    resource = re.fullmatch(
        r"\$\{aws_secretsmanager_secret\.(\w+)\.arn\}", secrets.outputs[output.group(1)]["value"]
    )
    assert resource, output.group(1)
    name = re.fullmatch(
        r"\$\{var\.(\w+)\}", secrets.of_type("aws_secretsmanager_secret")[resource.group(1)]["name"]
    )
    return argument(config, "secrets", name.group(1))


@pytest.mark.parametrize("env", OVERLAYS)
def test_external_secrets_read_secrets_terraform_makes_and_their_store_may_read(
    rendered, terraform, env
):
    config = terraform[env]
    made = {
        argument(config, "secrets", name)
        for name in config.modules["secrets"]
        if name.endswith("_secret")
    }
    assert len(made) >= 4
    roles = irsa_roles(terraform, env)
    role_keys = {account: name for name, account in roles.items()}
    prefix = argument(config, "iam", "name")
    iam = terraform["iam"]
    documents = rendered[env]
    externals = of_kind(documents, "ExternalSecret")
    assert externals
    for external in externals:
        namespace = external["metadata"]["namespace"]
        store = named(
            documents, "SecretStore", external["spec"]["secretStoreRef"]["name"], namespace
        )
        assert store["spec"]["provider"]["aws"]["region"] == region(config)
        account = store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"]
        role = role_keys[(namespace, account)]
        document = iam.documents()[role.removeprefix(f"{prefix}-").replace("-", "_")]
        readable = {
            secret_behind(terraform, env, re.fullmatch(r"\$\{var\.(\w+)\}", r).group(1))
            for s in statements(document)
            if "secretsmanager:GetSecretValue" in s["actions"]
            for r in s["resources"]
        }
        assert readable
        for item in external["spec"]["data"]:
            key = item["remoteRef"]["key"]
            assert key in made, (external["metadata"]["name"], key)
            assert key in readable, (role, key)


@pytest.mark.parametrize("env", OVERLAYS)
def test_the_backend_store_secret_has_the_field_the_tracking_server_reads(rendered, terraform, env):
    documents = rendered[env]
    deployment = named(documents, "Deployment", "mlflow", "mlops")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    refs = [
        e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if e["name"] == "MLFLOW_BACKEND_STORE_URI"
    ]
    assert refs
    (ref,) = refs
    external = named(documents, "ExternalSecret", ref["name"], "mlops")
    (item,) = [i for i in external["spec"]["data"] if i["secretKey"] == ref["key"]]
    # Terraform fills exactly this secret, with exactly this field
    config = terraform[env]
    assert item["remoteRef"]["key"] == argument(config, "secrets", "mlflow_db_secret")
    assert config.modules["database"]["backend_store_secret_arn"] == (
        "${module.secrets.mlflow_db_secret_arn}"
    )
    version = terraform["database"].of_type("aws_secretsmanager_secret_version")["backend_store"]
    fields = re.findall(r"(\w+) = \"", version["secret_string"])
    assert fields == [item["remoteRef"]["property"]]
    # and the pod may reach the database's port
    (policy,) = [
        p
        for p in of_kind(documents, "NetworkPolicy")
        if p["metadata"]["namespace"] == "mlops" and p["spec"]["podSelector"]
    ]
    ports = {port["port"] for rule in policy["spec"]["egress"] for port in rule.get("ports", [])}
    assert terraform["database"].locals["port"] in ports


@pytest.mark.parametrize("env", OVERLAYS)
def test_buckets_and_prefixes_are_the_ones_terraform_makes(rendered, terraform, env):
    config = terraform[env]
    buckets = {
        argument(config, "storage", "data_bucket"): {
            argument(config, "storage", "lake_prefix"),
            argument(config, "storage", "landing_prefix"),
        },
        argument(config, "storage", "artifacts_bucket"): {"artifacts"},
    }
    # the artifact prefix is the one the env's output hands to `mlflow server`
    destination = config.outputs["mlflow_artifacts_destination"]["value"]
    assert destination == "s3://${module.storage.artifacts_bucket}/artifacts"
    documents = rendered[env]
    # the service's ConfigMap, by the name the pod uses (kustomize appends a content hash)
    serving = named(documents, "Deployment", "lakehouse-serving", "lakehouse")
    (container,) = serving["spec"]["template"]["spec"]["containers"]
    (source,) = container["envFrom"]
    configmap = source["configMapRef"]["name"]
    lakehouse_env = named(documents, "ConfigMap", configmap, "lakehouse")["data"]
    assert lakehouse_env["LAKEHOUSE_ENV"] == env
    assert lakehouse_env["AWS_REGION"] == region(config)
    settings = load_settings(lakehouse_env["LAKEHOUSE_ENV"])
    uris = [settings.lake_root, settings.landing_root] + [
        s for s in strings(documents) if S3_URI.search(s)
    ]
    assert len(uris) >= 3  # conf's two roots and the artifact destination at least
    for text in uris:
        for bucket, path in S3_URI.findall(text):
            assert bucket in buckets, (text, sorted(buckets))
            assert path.split("/")[0] in buckets[bucket], text


def overlay_images(env: str) -> dict[str, str]:
    kustomization = yaml.safe_load((K8S / "overlays" / env / "kustomization.yaml").read_text())
    images = {i["name"]: i["newName"] for i in kustomization["images"] if "newName" in i}
    assert images, env
    return images


@pytest.mark.parametrize("env", OVERLAYS)
def test_images_come_from_the_repositories_terraform_makes(rendered, terraform, env):
    config = terraform[env]
    repositories = {resolve(r, config.locals) for r in config.modules["registry"]["repositories"]}
    assert repositories
    ours = {}
    for name, new_name in overlay_images(env).items():
        match = ECR_IMAGE.fullmatch(new_name)
        if match:
            account, image_region, repository = match.groups()
            assert image_region == region(config), new_name
            assert repository == name, new_name  # CI's `kustomize edit set image <name>=...`
            ours[repository] = account
    assert set(ours) == repositories
    # the registry is in the env's account, the one its roles are in
    role_accounts = {
        ROLE_ARN.fullmatch(a["metadata"]["annotations"][ROLE_ANNOTATION]).group(1)
        for a in of_kind(rendered[env], "ServiceAccount")
        if ROLE_ANNOTATION in a["metadata"].get("annotations", {})
    }
    assert set(ours.values()) == role_accounts
    # every pod image from ECR is one of those repositories
    images = [
        c
        for d in rendered[env]
        if d["kind"] in {"Deployment", "CronJob"}
        for c in strings(d)
        if isinstance(c, str) and ".dkr.ecr." in c
    ]
    assert images
    for image in images:
        assert ECR_IMAGE.match(image).group(3).split("@")[0] in repositories, image


def test_release_workflow_pushes_to_and_deploys_with_what_terraform_makes(terraform):
    workflow = yaml.safe_load(RELEASE.read_text())
    trusted = {argument(terraform[env], "ci", "github_environment"): env for env in OVERLAYS}
    repositories = {
        resolve(r, terraform[env].locals)
        for env in OVERLAYS
        for r in terraform[env].modules["registry"]["repositories"]
    }
    jobs = workflow["jobs"]
    assert jobs
    environments = {job["environment"] for job in jobs.values() if "environment" in job}
    assert environments == set(trusted)
    # both CI roles trust only their env's GitHub environment (test_terraform.py checks the
    # subjects), so every job that assumes one runs in an environment, and each role is used
    # in every env
    used = {role: set() for role in ("AWS_BUILD_ROLE_ARN", "AWS_DEPLOY_ROLE_ARN")}
    pushed, copied = set(), set()
    for name, job in jobs.items():
        for step in job.get("steps", []):
            role = str(step.get("with", {}).get("role-to-assume", ""))
            for variable in used:
                if variable in role:
                    assert job.get("environment") in trusted, name
                    used[variable].add(trusted[job["environment"]])
            if role:
                assert any(v in role for v in used), (name, role)
            outputs = step.get("with", {}).get("outputs", "")
            pushed |= set(re.findall(r"outputs\.registry \}\}/([\w-]+),push-by-digest", outputs))
            for pair in re.findall(r'"(lakehouse-[\w-]+)=\$\w+_DIGEST"', step.get("run", "")):
                if "crane copy" in step.get("run", ""):
                    copied.add((job.get("environment"), pair))
    assert used == {role: set(OVERLAYS) for role in used}
    # the build pushes to staging's repositories, the copy into prod's (the same names)
    assert jobs["build"]["environment"] == "staging"
    assert pushed == repositories
    assert copied == {("production", r) for r in repositories}
    # the build role of prod may pull staging's repositories, which admit it
    prod, staging = terraform["prod"], terraform["staging"]
    assert prod.modules["ci"]["source_repository_arns"] == "${var.source_repository_arns}"
    assert staging.modules["registry"]["pull_principal_arns"] == "${var.image_copy_role_arns}"


def test_clusters_run_the_kubernetes_version_the_manifests_are_validated_for(terraform):
    path = PROJECT_ROOT / "infra" / "tools" / "k8s_schemas.py"
    spec = importlib.util.spec_from_file_location("k8s_schemas", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    validated = ".".join(module.KUBERNETES_VERSION.split(".")[:2])
    clusters = {argument(terraform[env], "eks", "kubernetes_version") for env in OVERLAYS}
    assert clusters == {validated}, (clusters, module.KUBERNETES_VERSION)
    # and kubernetes-validate ships that version's schemas
    from importlib.resources import files

    shipped = Path(str(files("kubernetes_validate"))) / "kubernetes-json-schema"
    assert (shipped / f"v{module.KUBERNETES_VERSION}-local-strict").is_dir()


@pytest.mark.parametrize("env", OVERLAYS)
def test_the_service_may_reach_the_online_store_terraform_makes_and_nothing_more(
    rendered, terraform, env
):
    """The serving pods' way out to Redis on 6379 goes to the env's VPC only (the online
    store's subnets), and the env's settings name the secret Terraform writes its URL into."""
    policy = named(rendered[env], "NetworkPolicy", "lakehouse-serving", "lakehouse")
    redis = [r for r in policy["spec"]["egress"] if {p["port"] for p in r["ports"]} == {6379}]
    (rule,) = redis
    (peer,) = rule["to"]
    assert peer == {"ipBlock": {"cidr": argument(terraform[env], "network", "cidr_block")}}
    assert argument(terraform[env], "online_store", "url_secret_arn") == (
        "${module.secrets.online_store_secret_arn}"
    )
    secret = argument(terraform[env], "secrets", "online_store_secret")
    assert load_settings(env).secrets.online_store_url == f"{secret}#url"
    # no other pod gets there
    others = [
        p
        for p in of_kind(rendered[env], "NetworkPolicy")
        if p is not policy
        for r in p["spec"].get("egress", [])
        for port in r.get("ports", [])
        if port["port"] == 6379
    ]
    assert not others
