"""The AWS Terraform (infra/terraform), checked offline: every file parsed with python-hcl2, the
security and retention rules asserted on the parsed configuration, the names compared with
conf/ and with what the code and Delta's log store expect, and OpenTofu's formatter run.

`tofu validate` needs the AWS provider from a registry this machine cannot reach, so the
validate-level checks that need no provider are made here instead: every module call sets the
module's required variables and nothing else, and every `var.`, `local.`, `module.` and
resource reference names something that exists.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.tables import Table
from tests.support.terraform import (
    ENVS,
    MODULES,
    TERRAFORM,
    Config,
    grants,
    load_config,
    parse,
    resolve,
    resources_of,
    statements,
    strings,
)
from tests.support.tools import tool

# the Kubernetes service accounts that get a role, by role (the External Secrets Operator's
# stores read one secret each for infra/k8s)
SERVICE_ACCOUNTS = {
    "jobs": {"namespace": "lakehouse", "name": "lakehouse-jobs"},
    "serving": {"namespace": "lakehouse", "name": "lakehouse-serving"},
    "mlflow": {"namespace": "mlops", "name": "mlflow"},
    "secrets_reader": {"namespace": "lakehouse", "name": "secrets-reader"},
    "mlflow_secrets_reader": {"namespace": "mlops", "name": "secrets-reader"},
}
# GitHub Actions' roles (modules/ci), by the release workflow's variable that holds each
CI_ROLES = {"build": "AWS_BUILD_ROLE_ARN", "deploy": "AWS_DEPLOY_ROLE_ARN"}
DELTA_LOG_STORE_SOURCE = (
    PROJECT_ROOT
    / "infra/jvm/delta-storage-s3-dynamodb/src/main/java/io/delta/storage/S3DynamoDBLogStore.java"
)
# storage classes S3 reads without a restore: a lake object may move to these, never to Glacier
INSTANT_STORAGE_CLASSES = {"STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR"}
SECONDS_PER_HOUR = 3600
FEATURES = PROJECT_ROOT / "lakehouse" / "features"


@pytest.fixture(scope="module")
def modules() -> dict[str, Config]:
    return {name: load_config(TERRAFORM / "modules" / name) for name in MODULES}


@pytest.fixture(scope="module")
def envs() -> dict[str, Config]:
    return {name: load_config(TERRAFORM / "envs" / name) for name in ENVS}


# --- parsing and layout ---------------------------------------------------------------------


def test_every_file_parses():
    files = sorted(TERRAFORM.rglob("*.tf")) + sorted(TERRAFORM.rglob("backend.hcl.example"))
    assert len(files) >= 4 * len(MODULES) + 5 * len(ENVS), files
    failures = []
    for path in files:
        try:
            parse(path)
        except Exception as exc:  # the parser's errors have no common base class
            failures.append(f"{path.relative_to(TERRAFORM)}: {exc}")
    assert not failures, "\n".join(failures)


def test_layout_modules_and_envs():
    assert {p.name for p in (TERRAFORM / "modules").iterdir() if p.is_dir()} == set(MODULES)
    assert {p.name for p in (TERRAFORM / "envs").iterdir() if p.is_dir()} == set(ENVS)
    for name in MODULES:
        present = {p.name for p in (TERRAFORM / "modules" / name).glob("*.tf")}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= present, name
    assert (TERRAFORM / "README.md").is_file()


def test_variables_and_outputs_are_typed_and_described(modules, envs):
    configs = [*modules.values(), *envs.values()]
    variables = [(c.path, n, v) for c in configs for n, v in c.variables.items()]
    outputs = [(c.path, n, o) for c in configs for n, o in c.outputs.items()]
    assert len(variables) > 20 and len(outputs) > 20
    for path, name, body in variables:
        assert body.get("type") and body.get("description"), f"{path}: variable {name}"
    for path, name, body in outputs:
        assert body.get("description"), f"{path}: output {name}"


def test_every_module_and_env_pins_the_aws_provider(modules, envs):
    for config in [*modules.values(), *envs.values()]:
        (block,) = config.terraform
        assert block["required_version"] == ">= 1.6.0", config.path  # OpenTofu 1.6+
        (providers,) = block["required_providers"]
        assert providers["aws"]["source"] == "hashicorp/aws", config.path
        assert re.search(r"(~> 6\.0|>= 6\.0, < 7\.0)", providers["aws"]["version"]), config.path


@pytest.mark.parametrize("env", ENVS)
def test_env_calls_every_module(envs, env):
    calls = envs[env].modules
    assert {name: call["source"] for name, call in calls.items()} == {
        name: f"../../modules/{name}" for name in MODULES
    }


@pytest.mark.parametrize("env", ENVS)
def test_env_state_is_in_s3_with_dynamodb_locking(envs, env):
    (block,) = envs[env].terraform
    # partial configuration: no bucket, key or credentials committed
    assert block["backend"] == [{"s3": {}}]
    example = parse(TERRAFORM / "envs" / env / "backend.hcl.example")
    assert set(example) == {"bucket", "key", "region", "dynamodb_table", "encrypt"}
    assert example["encrypt"] is True
    assert env in example["key"] and env in example["bucket"]


# --- validate-level checks without a provider ------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_module_calls_set_exactly_the_module_variables(modules, envs, env):
    calls = envs[env].modules
    assert calls
    for name, call in calls.items():
        declared = modules[name].variables
        required = {v for v, body in declared.items() if "default" not in body}
        arguments = set(call) - {"source"}
        assert required <= arguments, f"{env}: module {name} misses {required - arguments}"
        assert arguments <= set(declared), (
            f"{env}: module {name}: unknown {arguments - set(declared)}"
        )


def test_references_name_what_exists(modules, envs):
    checked = 0
    for config in [*modules.values(), *envs.values()]:
        text = [s for s in strings(config.__dict__) if isinstance(s, str) and "${" in s]
        resources = {f"{t}.{n}" for t, n in config.resources}
        data = {f"{t}.{n}" for t, n in config.data}
        for expression in text:
            for name in re.findall(r"\bvar\.(\w+)", expression):
                assert name in config.variables, f"{config.path}: var.{name}"
                checked += 1
            for name in re.findall(r"\blocal\.(\w+)", expression):
                assert name in config.locals, f"{config.path}: local.{name}"
                checked += 1
            for ref in re.findall(r"\bdata\.(aws_\w+\.\w+)", expression):
                assert ref in data, f"{config.path}: data.{ref}"
                checked += 1
            for ref in re.findall(r"(?<![.\w])(aws_\w+\.\w+)", expression):
                assert ref in resources, f"{config.path}: {ref}"
                checked += 1
            for module, output in re.findall(r"\bmodule\.(\w+)\.(\w+)", expression):
                assert output in modules[module].outputs, f"{config.path}: module.{module}.{output}"
                checked += 1
    assert checked > 100


def test_every_variable_is_used(modules):
    for name, config in modules.items():
        used = " ".join(s for s in strings(config.__dict__) if "${" in s)
        for variable in config.variables:
            assert f"var.{variable}" in used, f"module {name}: var.{variable} is never used"


# --- storage ---------------------------------------------------------------------------------


def companion(storage: Config, kind: str, bucket: str) -> dict:
    (body,) = [
        b
        for b in storage.of_type(kind).values()
        if b["bucket"] == f"${{aws_s3_bucket.{bucket}.id}}"
    ] or [None]
    assert body is not None, f"bucket {bucket} has no {kind}"
    return body


def test_every_bucket_is_versioned_kms_encrypted_private_and_tls_only(modules):
    storage = modules["storage"]
    buckets = storage.of_type("aws_s3_bucket")
    assert set(buckets) == {"data", "artifacts"}
    # no module but storage makes buckets
    assert all(not c.of_type("aws_s3_bucket") for n, c in modules.items() if n != "storage")
    keys = storage.of_type("aws_kms_key")
    for bucket in buckets:
        versioning = companion(storage, "aws_s3_bucket_versioning", bucket)
        assert versioning["versioning_configuration"][0]["status"] == "Enabled"

        encryption = companion(
            storage, "aws_s3_bucket_server_side_encryption_configuration", bucket
        )
        (rule,) = encryption["rule"]
        (default,) = rule["apply_server_side_encryption_by_default"]
        assert default["sse_algorithm"] == "aws:kms"
        key = re.fullmatch(r"\$\{aws_kms_key\.(\w+)\.arn\}", default["kms_master_key_id"])
        assert key and key.group(1) in keys, default["kms_master_key_id"]
        assert rule["bucket_key_enabled"] is True

        block = companion(storage, "aws_s3_bucket_public_access_block", bucket)
        for setting in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        ):
            assert block[setting] is True, (bucket, setting)

        ownership = companion(storage, "aws_s3_bucket_ownership_controls", bucket)
        assert ownership["rule"][0]["object_ownership"] == "BucketOwnerEnforced"

        policy = companion(storage, "aws_s3_bucket_policy", bucket)
        document = re.fullmatch(
            r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", policy["policy"]
        )
        assert document, policy["policy"]
        tls = [
            s
            for s in statements(storage.documents()[document.group(1)])
            if s["effect"] == "Deny"
            and {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
            in s["condition"]
        ]
        assert tls, f"bucket {bucket}: no statement denies requests without TLS"
        arn = f"${{aws_s3_bucket.{bucket}.arn}}"
        assert set(tls[0]["resources"]) == {arn, f"{arn}/*"}
        assert tls[0]["principals"] == [{"type": "*", "identifiers": ["*"]}]

        companion(storage, "aws_s3_bucket_lifecycle_configuration", bucket)


def test_every_kms_key_rotates(modules):
    keys = [(n, k, b) for n, c in modules.items() for k, b in c.of_type("aws_kms_key").items()]
    assert len(keys) >= 4  # data, artifacts, secrets, Kubernetes secrets
    for module, name, body in keys:
        assert body["enable_key_rotation"] is True, f"{module}: aws_kms_key.{name}"
        assert body["deletion_window_in_days"] >= 7, f"{module}: aws_kms_key.{name}"


def rules_by_id(storage: Config, bucket: str) -> dict[str, dict]:
    lifecycle = companion(storage, "aws_s3_bucket_lifecycle_configuration", bucket)
    rules = {rule["id"]: rule for rule in lifecycle["rule"]}
    assert rules, f"bucket {bucket}: a lifecycle configuration without rules"
    for rule in rules.values():
        assert rule["status"] == "Enabled"
        assert rule["abort_incomplete_multipart_upload"], rule["id"]
    return rules


def expires_current_objects(rule: dict) -> bool:
    return any(set(e) & {"days", "date"} for e in rule.get("expiration", []))


def test_lifecycle_never_expires_what_the_lake_or_registry_reads(modules):
    storage = modules["storage"]
    data_rules = rules_by_id(storage, "data")
    assert set(data_rules) == {"lake", "landing"}
    lake = data_rules["lake"]
    assert resolve(lake["filter"][0]["prefix"], storage.locals) == "${var.lake_prefix}/"
    # current lake objects (data files, the commit log, checkpoints) never expire: Delta
    # decides what a table needs (VACUUM, delta.logRetentionDuration)
    assert not expires_current_objects(lake)
    assert lake["noncurrent_version_expiration"] == [
        {"noncurrent_days": "${var.noncurrent_version_days}"}
    ]
    transitions = lake.get("transition", [])
    assert transitions
    assert {t["storage_class"] for t in transitions} <= INSTANT_STORAGE_CLASSES
    assert "noncurrent_version_transition" not in lake

    landing = data_rules["landing"]
    assert resolve(landing["filter"][0]["prefix"], storage.locals) == "${var.landing_prefix}/"
    assert landing["expiration"] == [{"days": "${var.landing_expiration_days}"}]

    (artifacts,) = rules_by_id(storage, "artifacts").values()
    assert not expires_current_objects(artifacts)
    assert artifacts["filter"] == [{}]
    assert artifacts["noncurrent_version_expiration"] == [
        {"noncurrent_days": "${var.noncurrent_version_days}"}
    ]

    # the same rules, enforced by `tofu plan` itself
    lifecycle = companion(storage, "aws_s3_bucket_lifecycle_configuration", "data")
    conditions = {p["condition"] for p in lifecycle["lifecycle"][0]["precondition"]}
    assert conditions == {
        "${var.noncurrent_version_days * 24 > var.vacuum_retention_hours}",
        "${var.noncurrent_version_days < var.erasure_deadline_days}",
        "${var.landing_expiration_days + var.landing_noncurrent_days < var.erasure_deadline_days}",
    }


@pytest.mark.parametrize("env", ENVS)
def test_env_retention_outlives_vacuum_and_ends_before_the_erasure_deadline(envs, env):
    maintain = load_settings(env).ml.maintain
    vacuum_hours = maintain.min_retention_hours + maintain.safety_margin_s / SECONDS_PER_HOUR
    config = envs[env]
    assert config.locals["vacuum_retention_hours"] == vacuum_hours
    call = {k: resolve(v, config.locals) for k, v in config.modules["storage"].items()}
    assert call["vacuum_retention_hours"] == vacuum_hours
    # a file Delta deleted stays recoverable longer than Delta itself may still read it
    assert call["noncurrent_version_days"] * 24 > vacuum_hours
    # ...and every copy of erased data is gone before the erasure deadline (docs/PRIVACY.md)
    assert call["noncurrent_version_days"] < call["erasure_deadline_days"]
    assert (
        call["landing_expiration_days"] + call["landing_noncurrent_days"]
        < call["erasure_deadline_days"]
    )
    assert call["erasure_deadline_days"] <= 30
    # the commit log (log_retention_days) is current data: no rule expires lake objects at all
    assert maintain.log_retention_days * 24 > vacuum_hours


# --- names shared with conf/ and the code --------------------------------------------------


def s3a_root(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3a://([^/]+)/(.+?)/?", uri)
    assert match, uri
    return match.group(1), match.group(2)


@pytest.mark.parametrize("env", ENVS)
def test_env_names_are_the_ones_conf_gives_the_code(envs, env):
    settings = load_settings(env)
    config = envs[env]
    names = config.locals
    assert s3a_root(settings.lake_root) == (names["data_bucket"], names["lake_prefix"])
    assert s3a_root(settings.landing_root) == (names["data_bucket"], names["landing_prefix"])
    assert settings.storage.log_store == "dynamodb"
    assert names["delta_log_table"] == settings.storage.dynamodb_table
    assert names["lock_table"] == settings.lock.table
    assert names["hmac_key_secret"] == settings.secrets.hmac_key.partition("#")[0]
    assert names["api_keys_secret"] == settings.secrets.api_keys

    def argument(module: str, name: str) -> Any:
        return resolve(config.modules[module][name], names)

    assert argument("storage", "data_bucket") == names["data_bucket"]
    assert argument("storage", "lake_prefix") == argument("iam", "lake_prefix") == "lake"
    assert argument("storage", "landing_prefix") == argument("iam", "landing_prefix") == "landing"
    assert argument("log_store", "delta_log_table") == settings.storage.dynamodb_table
    assert argument("log_store", "lock_table") == settings.lock.table
    assert argument("secrets", "hmac_key_secret") == names["hmac_key_secret"]
    assert argument("secrets", "api_keys_secret") == names["api_keys_secret"]
    # the tracking server the code calls runs in the namespace its role trusts
    host = re.match(r"https?://([^:/]+)", settings.ml.tracking_uri).group(1)
    assert host.split(".")[:2] == ["mlflow", SERVICE_ACCOUNTS["mlflow"]["namespace"]]


def java_constants(source: str) -> dict[str, str]:
    return dict(re.findall(r'static final String (ATTR_\w+) = "(\w+)";', source))


def test_delta_log_store_table_has_the_schema_delta_creates(modules):
    source = DELTA_LOG_STORE_SOURCE.read_text()
    names = java_constants(source)
    keys = {
        names[a]: k
        for a, k in re.findall(r"new KeySchemaElement\((ATTR_\w+), KeyType\.(\w+)\)", source)
    }
    types = {
        names[a]: t
        for a, t in re.findall(
            r"new AttributeDefinition\((ATTR_\w+), ScalarAttributeType\.(\w+)\)", source
        )
    }
    assert keys == {"tablePath": "HASH", "fileName": "RANGE"}
    assert types == {"tablePath": "S", "fileName": "S"}

    table = modules["log_store"].of_type("aws_dynamodb_table")["delta_log"]
    assert {table["hash_key"]: "HASH", table["range_key"]: "RANGE"} == keys
    assert {a["name"]: a["type"] for a in table["attribute"]} == types
    assert table["ttl"] == [{"attribute_name": names["ATTR_EXPIRE_TIME"], "enabled": True}]
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["server_side_encryption"] == [{"enabled": True}]


def test_lake_lock_table_has_the_schema_the_code_creates(modules):
    from lakehouse.io import lake_lock

    created = {}

    class MissingTableError(Exception):
        pass

    class Client:
        class exceptions:  # noqa: N801 - boto3's attribute name
            ResourceNotFoundException = MissingTableError
            ResourceInUseException = RuntimeError

        def describe_table(self, **_):
            raise MissingTableError

        def create_table(self, **kwargs):
            created.update(kwargs)

        def get_waiter(self, _):
            return type("Waiter", (), {"wait": lambda *_, **__: None})()

    lake_lock._ensure_table(Client(), "t")
    keys = {k["AttributeName"]: k["KeyType"] for k in created["KeySchema"]}
    types = {a["AttributeName"]: a["AttributeType"] for a in created["AttributeDefinitions"]}
    assert keys == {"lake": "HASH"}

    table = modules["log_store"].of_type("aws_dynamodb_table")["lake_lock"]
    assert {table["hash_key"]: "HASH"} == keys
    assert "range_key" not in table
    assert {a["name"]: a["type"] for a in table["attribute"]} == types
    assert table["billing_mode"] == created["BillingMode"]


def test_secrets_are_containers_encrypted_with_their_own_key(modules):
    secrets = modules["secrets"].of_type("aws_secretsmanager_secret")
    assert set(secrets) == {"hmac_key", "api_keys", "metrics_scraper", "mlflow_db", "online_store"}
    for name, body in secrets.items():
        assert body["kms_key_id"] == "${aws_kms_key.secrets.arn}", name
    # values are put out of band: none in the code or the state, except two URLs whose host
    # and password only Terraform knows (modules/database and modules/online_store write them)
    versions = {
        (module, name): body
        for module, config in modules.items()
        for name, body in config.of_type("aws_secretsmanager_secret_version").items()
    }
    assert set(versions) == {("database", "backend_store"), ("online_store", "url")}
    assert versions["database", "backend_store"]["secret_id"] == "${var.backend_store_secret_arn}"
    assert versions["online_store", "url"]["secret_id"] == "${var.url_secret_arn}"


# --- IAM -------------------------------------------------------------------------------------


def test_policy_documents_name_every_action_and_resource(modules):
    documents = [(m, n, d) for m, c in modules.items() for n, d in c.documents().items()]
    assert len(documents) >= 8
    allows = wildcards = 0
    for module, name, document in documents:
        where = f"{module}: {name}"
        for statement in statements(document):
            assert not set(statement) & {"not_actions", "not_resources", "not_principals"}, where
            actions = statement["actions"]
            assert actions, where
            if statement.get("effect", "Allow") == "Deny":
                # a blanket deny only makes a policy stricter; it must be the TLS rule
                variables = {c["variable"] for c in statement["condition"]}
                assert variables <= {"aws:SecureTransport", "s3:TlsVersion"}, where
                continue
            allows += 1
            for action in actions:
                assert "*" not in action, f"{where}: action {action}"
            for principal in statement.get("principals", []):
                assert "*" not in principal["identifiers"], where
            scope = modules[module].locals
            resources = resources_of(statement)
            if "*" in resources:
                # the one exception: ecr:GetAuthorizationToken (docker login to ECR) has no
                # resource-level permissions, IAM accepts it only on "*"
                assert (actions, resources) == (["ecr:GetAuthorizationToken"], ["*"]), where
                wildcards += 1
                continue
            for resource in resources:
                resolved = resolve(resource, scope)
                assert resolved != "*", f"{where}: resource *"
                # a wildcard only for the objects under a named bucket and prefix
                head = resolved.removesuffix("/*")
                assert "*" not in head and head.startswith("${var."), f"{where}: {resolved}"
    assert allows >= 15
    assert wildcards == len(CI_ROLES)  # the registry login of each CI role, nothing else


def test_policies_are_documents_not_inline_json(modules, envs):
    # jsonencode() writes the two URL secrets' values, and never a policy
    uses = {
        path.relative_to(TERRAFORM): path.read_text().count("jsonencode(")
        for config in [*modules.values(), *envs.values()]
        for path in config.path.glob("*.tf")
    }
    assert {path: n for path, n in uses.items() if n} == {
        Path("modules/database/main.tf"): 1,
        Path("modules/online_store/main.tf"): 1,
    }
    secret = modules["database"].of_type("aws_secretsmanager_secret_version")["backend_store"]
    assert secret["secret_string"].startswith("${jsonencode(")
    roles = [b for c in modules.values() for b in c.of_type("aws_iam_role").values()]
    policies = [b for c in modules.values() for b in c.of_type("aws_iam_role_policy").values()]
    # + the prod build role's pull of staging's repositories (modules/ci build_source)
    assert len(roles) >= 3 and len(policies) == len(SERVICE_ACCOUNTS) + len(CI_ROLES) + 1
    for role in roles:
        assert re.fullmatch(
            r"\$\{data\.aws_iam_policy_document\.\w+(\[[^]]+\])?\.json\}",
            role["assume_role_policy"],
        )
    for policy in policies:
        assert re.fullmatch(r"\$\{data\.aws_iam_policy_document\.\w+\.json\}", policy["policy"])


def test_no_static_credentials(modules, envs):
    for config in [*modules.values(), *envs.values()]:
        assert not config.of_type("aws_iam_access_key") and not config.of_type("aws_iam_user")
        for provider in config.providers:
            assert not set(provider.get("aws", {})) & {"access_key", "secret_key", "token"}
    for path in TERRAFORM.rglob("*"):
        if path.is_file():
            assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", path.read_text()), path


def test_service_accounts_assume_their_roles_through_the_cluster_oidc_provider(modules, envs):
    iam = modules["iam"]
    assert iam.locals["service_accounts"] == SERVICE_ACCOUNTS
    trust = iam.documents()["trust"]
    assert trust["for_each"] == "${local.service_accounts}"
    (statement,) = statements(trust)
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert statement["principals"] == [
        {"type": "Federated", "identifiers": ["${var.oidc_provider_arn}"]}
    ]
    conditions = {c["variable"]: (c["test"], c["values"]) for c in statement["condition"]}
    assert conditions == {
        "${var.oidc_issuer}:sub": (
            "StringEquals",
            ["system:serviceaccount:${each.value.namespace}:${each.value.name}"],
        ),
        "${var.oidc_issuer}:aud": ("StringEquals", ["sts.amazonaws.com"]),
    }
    role = iam.of_type("aws_iam_role")["this"]
    assert role["for_each"] == "${local.service_accounts}"
    # lakehouse-<env>-secrets-reader, as infra/k8s/overlays/<env>/roles.yaml names them
    assert role["name"] == '${var.name}-${replace(each.key, "_", "-")}'
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.trust[each.key].json}"
    # each permission document is attached to its own role only
    attached = {
        body["role"]: body["policy"] for body in iam.of_type("aws_iam_role_policy").values()
    }
    assert attached == {
        f'${{aws_iam_role.this["{key}"].id}}': f"${{data.aws_iam_policy_document.{key}.json}}"
        for key in SERVICE_ACCOUNTS
    }

    eks = modules["eks"]
    (provider,) = eks.of_type("aws_iam_openid_connect_provider").values()
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    assert provider["url"] == "${aws_eks_cluster.this.identity[0].oidc[0].issuer}"
    assert (
        'replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")'
        in (eks.outputs["oidc_issuer"]["value"])
    )

    for key in SERVICE_ACCOUNTS:
        assert iam.outputs[f"{key}_role_arn"]["value"] == f'${{aws_iam_role.this["{key}"].arn}}'
        for env in envs.values():
            assert env.outputs[f"{key}_role_arn"]["value"] == f"${{module.iam.{key}_role_arn}}"
    for env in envs.values():
        call = env.modules["iam"]
        assert call["oidc_provider_arn"] == "${module.eks.oidc_provider_arn}"
        assert call["oidc_issuer"] == "${module.eks.oidc_issuer}"


LANDING_OBJECTS = "${var.data_bucket_arn}/${var.landing_prefix}/*"
LAKE_OBJECTS = "${var.data_bucket_arn}/${var.lake_prefix}/*"
DATA_BUCKET = "${var.data_bucket_arn}"
ARTIFACTS_BUCKET = "${var.artifacts_bucket_arn}"
ARTIFACT_OBJECTS = "${var.artifacts_bucket_arn}/*"
S3_WRITES = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}


def role_grants(modules: dict[str, Config], role: str) -> set[tuple[str, str]]:
    iam = modules["iam"]
    return grants(iam.documents()[role], iam.locals)


def on(pairs: set[tuple[str, str]], service: str) -> set[tuple[str, str]]:
    return {(a, r) for a, r in pairs if a.startswith(f"{service}:")}


def test_jobs_read_landing_and_write_only_the_lake(modules):
    pairs = role_grants(modules, "jobs")
    s3 = on(pairs, "s3")
    assert ("s3:GetObject", LANDING_OBJECTS) in s3
    assert {("s3:GetObject", LAKE_OBJECTS), ("s3:PutObject", LAKE_OBJECTS)} <= s3
    assert ("s3:DeleteObject", LAKE_OBJECTS) in s3  # VACUUM, erasure
    assert {r for a, r in s3 if a in S3_WRITES} == {LAKE_OBJECTS}
    assert {a for a, r in s3 if r == LANDING_OBJECTS} == {"s3:GetObject"}
    assert {r for _, r in s3} == {DATA_BUCKET, LANDING_OBJECTS, LAKE_OBJECTS}  # no artifacts
    assert {r for _, r in on(pairs, "dynamodb")} == {
        "${var.delta_log_table_arn}",
        "${var.lock_table_arn}",
    }
    assert not {a for a, _ in on(pairs, "dynamodb")} & {"dynamodb:CreateTable", "dynamodb:Scan"}
    assert on(pairs, "secretsmanager") == {
        ("secretsmanager:GetSecretValue", "${var.hmac_key_secret_arn}")
    }


def served_tables() -> set[Table]:
    """The lake tables the prediction service reads: every ``lakehouse.tables`` name that the
    service's modules (serving/) and its online feature loaders (lakehouse/features/) import."""
    from lakehouse import tables

    names = set()
    paths = [*(PROJECT_ROOT / "serving").rglob("*.py"), *FEATURES.glob("*.py")]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "lakehouse.tables":
                names |= {alias.name for alias in node.names}
    found = {getattr(tables, name) for name in names}
    return {t for t in found if isinstance(t, Table)}


def may(pairs: set[tuple[str, str]], action: str, key: str) -> bool:
    """Whether a role's (action, resource) pairs allow ``action`` on object ``key`` (IAM's
    wildcards: ``*`` any run of characters, ``?`` one)."""
    for granted, resource in pairs:
        pattern = re.escape(resource).replace(r"\*", ".*").replace(r"\?", ".")
        if granted == action and re.fullmatch(pattern, key):
            return True
    return False


def lake_object(table: Table, file: str = "_delta_log/00000000000000000000.json") -> str:
    return f"${{var.data_bucket_arn}}/${{var.lake_prefix}}/{table.layer}/{table.name}/{file}"


def test_the_service_reads_only_the_silver_tables_it_serves_from(modules):
    from lakehouse.tables import ALL_TABLES

    served = served_tables()
    # the delivery reference data, the account history and the velocity state's warm start
    assert {t.key for t in served} == {
        "silver/zip_codes",
        "silver/warehouses",
        "silver/holidays",
        "silver/accounts",
        "silver/risk_intervals",
        "silver/payment_transactions",
    }
    serving = role_grants(modules, "serving")
    jobs = role_grants(modules, "jobs")
    for table in ALL_TABLES:
        for file in ("_delta_log/00000000000000000003.json", "part-00000-x.snappy.parquet"):
            key = lake_object(table, file)
            assert may(serving, "s3:GetObject", key) == (table in served), key
            # the jobs still read and write the whole lake
            assert may(jobs, "s3:GetObject", key) and may(jobs, "s3:PutObject", key), key
    # raw personal data (Bronze, quarantine), Gold, audit and MLflow's local store: never
    for key in (
        "${var.data_bucket_arn}/${var.lake_prefix}/bronze/sessions/part-0.parquet",
        "${var.data_bucket_arn}/${var.lake_prefix}/quarantine/payment_transactions/x.parquet",
        "${var.data_bucket_arn}/${var.lake_prefix}/gold/payments_unified/x.parquet",
        "${var.data_bucket_arn}/${var.lake_prefix}/_mlflow/mlflow.db",
        "${var.data_bucket_arn}/${var.lake_prefix}/silver/sessions/x.parquet",
        "${var.data_bucket_arn}/${var.landing_prefix}/sessions/x.json.gz",
        # a table whose name starts like a served one
        "${var.data_bucket_arn}/${var.lake_prefix}/silver/accounts_backup/x.parquet",
    ):
        assert not may(serving, "s3:GetObject", key), key
    assert may(jobs, "s3:DeleteObject", lake_object(Table("bronze", "sessions")))


def test_the_tables_check_can_fail(modules):
    """``may`` sees the old grant of the whole lake as reading Bronze and quarantine."""
    whole_lake = {("s3:GetObject", LAKE_OBJECTS)}
    assert may(whole_lake, "s3:GetObject", lake_object(Table("bronze", "sessions")))
    assert may(whole_lake, "s3:GetObject", lake_object(Table("quarantine", "sessions")))
    assert not may(whole_lake, "s3:PutObject", lake_object(Table("bronze", "sessions")))


def test_service_only_reads_its_tables_and_the_api_keys(modules):
    pairs = role_grants(modules, "serving")
    s3 = on(pairs, "s3")
    assert {a for a, _ in s3} == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
    # it writes only its inference log's files (serving/inference_log.py), and reads none
    assert {r for a, r in s3 if a == "s3:PutObject"} == {
        "${var.data_bucket_arn}/${var.lake_prefix}/_inference_log/*"
    }
    assert not may(pairs, "s3:PutObject", lake_object(Table("audit", "inference_log")))
    assert {r for a, r in s3 if a == "s3:GetObject"} == {
        f"${{var.data_bucket_arn}}/${{var.lake_prefix}}/{t.key}/*" for t in served_tables()
    }
    # listing the data bucket only (a HEAD's 404, see the module); models come through the
    # tracking server, which proxies the artifact store: nothing on the artifact bucket
    assert {r for a, r in s3 if a == "s3:ListBucket"} == {DATA_BUCKET}
    assert not {r for _, r in pairs if r.startswith(ARTIFACTS_BUCKET)}
    assert on(pairs, "kms") == {
        ("kms:Decrypt", "${var.data_kms_key_arn}"),
        ("kms:GenerateDataKey", "${var.data_kms_key_arn}"),
        ("kms:Decrypt", "${var.secrets_kms_key_arn}"),
    }
    assert not on(pairs, "dynamodb")
    # the service tokenizes nothing: the API keys and the online store's URL, never the PII key
    assert on(pairs, "secretsmanager") == {
        ("secretsmanager:GetSecretValue", "${var.api_keys_secret_arn}"),
        ("secretsmanager:GetSecretValue", "${var.online_store_secret_arn}"),
    }
    services = {a.split(":")[0] for a, _ in pairs}
    assert services == {"s3", "kms", "secretsmanager"}


def test_tracking_server_touches_only_the_artifacts(modules):
    pairs = role_grants(modules, "mlflow")
    s3 = on(pairs, "s3")
    assert {r for _, r in s3} == {ARTIFACTS_BUCKET, ARTIFACT_OBJECTS}
    assert {r for a, r in s3 if a in S3_WRITES} == {ARTIFACT_OBJECTS}
    assert {a.split(":")[0] for a, _ in pairs} == {"s3", "kms"}


@pytest.mark.parametrize(
    ("role", "secret"),
    [
        ("secrets_reader", "${var.metrics_scraper_secret_arn}"),
        ("mlflow_secrets_reader", "${var.mlflow_db_secret_arn}"),
    ],
)
def test_each_secret_store_reads_one_secret(modules, role, secret):
    pairs = role_grants(modules, role)
    assert on(pairs, "secretsmanager") == {("secretsmanager:GetSecretValue", secret)}
    assert pairs - on(pairs, "secretsmanager") == {("kms:Decrypt", "${var.secrets_kms_key_arn}")}


def test_kms_keys_are_usable_only_through_their_service(modules):
    iam = modules["iam"]
    kms = [
        s
        for name in SERVICE_ACCOUNTS
        for s in statements(iam.documents()[name])
        if any(a.startswith("kms:") for a in s["actions"])
    ]
    assert len(kms) >= len(SERVICE_ACCOUNTS) + 2
    for statement in kms:
        (condition,) = statement["condition"]
        assert condition["variable"] == "kms:ViaService"
        assert resolve(condition["values"][0], iam.locals).split(".")[0] in {"s3", "secretsmanager"}


# --- cluster and network -------------------------------------------------------------------


def test_cluster_is_private_encrypted_and_its_nodes_hold_no_lake_rights(modules, envs):
    eks = modules["eks"]
    cluster = eks.of_type("aws_eks_cluster")["this"]
    (vpc,) = cluster["vpc_config"]
    assert vpc["endpoint_private_access"] is True
    assert vpc["endpoint_public_access"] == "${length(var.public_access_cidrs) > 0}"
    (encryption,) = cluster["encryption_config"]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"] == [{"key_arn": "${aws_kms_key.secrets.arn}"}]
    assert cluster["access_config"][0]["authentication_mode"] == "API"
    assert {"audit", "api"} <= set(cluster["enabled_cluster_log_types"])
    # the nodes' role has AWS's node policies only; the lake's rights are the pods' (IRSA)
    assert not eks.of_type("aws_iam_role_policy")
    attached = eks.of_type("aws_iam_role_policy_attachment")["node"]["for_each"]
    assert "AmazonEKSWorkerNodePolicy" in attached and "AmazonS3" not in attached
    for env in envs.values():
        call = env.modules["eks"]
        assert call["subnet_ids"] == "${module.network.private_subnet_ids}"
        assert call["node_groups"], env.path
        assert env.variables["public_access_cidrs"]["default"] == []


def test_network_keeps_nodes_private_and_reaches_s3_and_dynamodb_directly(modules):
    network = modules["network"]
    public = network.of_type("aws_subnet")["public"]
    assert public["map_public_ip_on_launch"] is False
    endpoints = network.of_type("aws_vpc_endpoint")
    assert {e["service_name"].rsplit(".", 1)[1] for e in endpoints.values()} == {"s3", "dynamodb"}
    for endpoint in endpoints.values():
        assert endpoint["vpc_endpoint_type"] == "Gateway"
        assert endpoint["route_table_ids"] == "${aws_route_table.private[*].id}"


# --- the MLflow backend store, the registry, CI ------------------------------------------------


def test_database_is_private_encrypted_and_reached_only_from_the_cluster(modules, envs):
    database = modules["database"]
    (instance,) = database.of_type("aws_db_instance").values()
    assert instance["engine"] == "postgres"
    assert instance["publicly_accessible"] is False
    assert instance["storage_encrypted"] is True
    assert instance["kms_key_id"] == "${aws_kms_key.database.arn}"
    assert instance["vpc_security_group_ids"] == ["${aws_security_group.database.id}"]
    assert instance["db_subnet_group_name"] == "${aws_db_subnet_group.this.name}"
    assert instance["password"] == "${random_password.master.result}"
    assert instance["iam_database_authentication_enabled"] == "${var.iam_authentication}"
    assert database.variables["iam_authentication"]["default"] is False  # optional
    assert instance["backup_retention_period"] == "${var.backup_retention_days}"
    assert instance["deletion_protection"] == "${var.deletion_protection}"
    assert instance["skip_final_snapshot"] == "${!var.final_snapshot}"
    assert "var.final_snapshot ?" in instance["final_snapshot_identifier"]
    (group,) = database.of_type("aws_db_subnet_group").values()
    assert group["subnet_ids"] == "${var.subnet_ids}"
    (parameters,) = database.of_type("aws_db_parameter_group").values()
    assert {"name": "rds.force_ssl", "value": "1"} in parameters["parameter"]
    # one way in: PostgreSQL from the cluster's security group; no egress at all
    (security_group,) = database.of_type("aws_security_group").values()
    assert not security_group.get("ingress") and not security_group.get("egress")
    rules = database.of_type("aws_vpc_security_group_ingress_rule")
    assert rules
    for rule in rules.values():
        assert rule["security_group_id"] == "${aws_security_group.database.id}"
        assert rule["referenced_security_group_id"] == "${var.client_security_group_id}"
        assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule
        assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == (
            "tcp",
            "${local.port}",
            "${local.port}",
        )
    assert database.locals["port"] == 5432
    assert not database.of_type("aws_vpc_security_group_egress_rule")
    assert not database.of_type("aws_security_group_rule")
    for env in envs.values():
        call = env.modules["database"]
        assert call["subnet_ids"] == "${module.network.private_subnet_ids}"
        assert call["client_security_group_id"] == "${module.eks.cluster_security_group_id}"
        assert call["backend_store_secret_arn"] == "${module.secrets.mlflow_db_secret_arn}"
        assert call["backup_retention_days"] >= 7
    prod = envs["prod"].modules["database"]
    assert prod["deletion_protection"] is True and prod["final_snapshot"] is True
    assert prod["multi_az"] is True
    eks = modules["eks"].outputs["cluster_security_group_id"]["value"]
    assert eks == "${aws_eks_cluster.this.vpc_config[0].cluster_security_group_id}"


def test_backend_store_secret_is_the_url_the_tracking_server_reads(modules):
    secret = modules["database"].of_type("aws_secretsmanager_secret_version")["backend_store"]
    value = re.fullmatch(r"\$\{jsonencode\(\{uri = \"(.+)\"\}\)\}", secret["secret_string"])
    assert value, secret["secret_string"]  # one field, uri (infra/k8s's ExternalSecret reads it)
    uri = value.group(1)
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the MLflow image has psycopg2
    assert uri.startswith("postgresql+psycopg2://${aws_db_instance.this.username}:")
    assert ":${urlencode(random_password.master.result)}@" in uri
    assert "@${aws_db_instance.this.address}:${aws_db_instance.this.port}/" in uri
    assert uri.endswith("/${aws_db_instance.this.db_name}?sslmode=require")
    (password,) = modules["database"].of_type("random_password").values()
    assert password["length"] >= 32


def test_online_store_is_private_encrypted_never_evicts_and_is_the_url_the_service_reads(
    modules, envs
):
    store = modules["online_store"]
    (group,) = store.of_type("aws_elasticache_replication_group").values()
    assert group["engine"] == "redis"
    assert group["transit_encryption_enabled"] is True
    assert group["transit_encryption_mode"] == "required"
    assert group["at_rest_encryption_enabled"] is True
    assert group["kms_key_id"] == "${aws_kms_key.online_store.arn}"
    assert group["auth_token"] == "${random_password.auth.result}"
    assert group["security_group_ids"] == ["${aws_security_group.online_store.id}"]
    assert group["subnet_group_name"] == "${aws_elasticache_subnet_group.this.name}"
    assert group["port"] == "${local.port}" and store.locals["port"] == 6379
    # a replica means a failover that needs no one
    assert group["num_cache_clusters"] == "${var.replicas + 1}"
    assert group["automatic_failover_enabled"] == "${var.replicas > 0}"
    (parameters,) = store.of_type("aws_elasticache_parameter_group").values()
    assert (
        parameters["family"] == "redis7" and store.variables["engine_version"]["default"] == "7.1"
    )
    assert {"name": "maxmemory-policy", "value": "noeviction"} in parameters["parameter"]
    (subnets,) = store.of_type("aws_elasticache_subnet_group").values()
    assert subnets["subnet_ids"] == "${var.subnet_ids}"
    # one way in: Redis from the cluster's security group; no egress at all
    (security_group,) = store.of_type("aws_security_group").values()
    assert not security_group.get("ingress") and not security_group.get("egress")
    (rule,) = store.of_type("aws_vpc_security_group_ingress_rule").values()
    assert rule["security_group_id"] == "${aws_security_group.online_store.id}"
    assert rule["referenced_security_group_id"] == "${var.client_security_group_id}"
    assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == (
        "tcp",
        "${local.port}",
        "${local.port}",
    )
    assert not store.of_type("aws_vpc_security_group_egress_rule")
    (password,) = store.of_type("random_password").values()
    assert password["length"] >= 32 and password["special"] is False
    # the secret's one field is the URL `lakehouse serve` connects with: TLS, the token
    secret = store.of_type("aws_secretsmanager_secret_version")["url"]
    value = re.fullmatch(r"\$\{jsonencode\(\{url = \"(.+)\"\}\)\}", secret["secret_string"])
    assert value, secret["secret_string"]
    assert value.group(1) == (
        "rediss://:${urlencode(random_password.auth.result)}"
        "@${aws_elasticache_replication_group.this.primary_endpoint_address}:${local.port}/0"
    )
    for name, env in envs.items():
        call = env.modules["online_store"]
        assert call["subnet_ids"] == "${module.network.private_subnet_ids}"
        assert call["client_security_group_id"] == "${module.eks.cluster_security_group_id}"
        assert call["url_secret_arn"] == "${module.secrets.online_store_secret_arn}"
        # the service's settings read the secret that module writes, field url
        secret_name = env.locals["online_store_secret"]
        assert env.modules["secrets"]["online_store_secret"] == "${local.online_store_secret}"
        assert load_settings(name).secrets.online_store_url == f"{secret_name}#url"
    assert envs["prod"].modules["online_store"]["replicas"] >= 1


@pytest.mark.parametrize("env", ENVS)
def test_registry_keeps_what_a_cluster_may_still_pull(modules, envs, env):
    registry = modules["registry"]
    (repository,) = registry.of_type("aws_ecr_repository").values()
    assert repository["for_each"] == "${var.repositories}"
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert repository["image_scanning_configuration"] == [{"scan_on_push": True}]
    assert repository["encryption_configuration"] == [
        {"encryption_type": "KMS", "kms_key": "${aws_kms_key.images.arn}"}
    ]
    assert repository["force_delete"] is False
    (policy,) = registry.of_type("aws_ecr_lifecycle_policy").values()
    assert policy["for_each"] == "${aws_ecr_repository.this}"
    document = re.fullmatch(
        r"\$\{data\.aws_ecr_lifecycle_policy_document\.(\w+)\.json\}", policy["policy"]
    )
    assert document
    rules = registry.data[("aws_ecr_lifecycle_policy_document", document.group(1))]["rule"]
    assert rules
    # images are pushed by digest, untagged: only a count rule, so the newest keep_images are
    # never expired however old (prod may run a digest from many releases ago)
    for rule in rules:
        (selection,) = rule["selection"]
        assert selection["tag_status"] == "untagged"
        assert selection["count_type"] == "imageCountMoreThan"
        assert selection["count_number"] == "${var.keep_images}"
    call = envs[env].modules["registry"]
    assert call["keep_images"] >= 100
    names = {resolve(name, envs[env].locals) for name in call["repositories"]}
    assert names == {"lakehouse-serving", "lakehouse-jobs", "lakehouse-mlflow"}


def test_ci_roles_trust_only_this_repositorys_main_branch_and_environment(modules, envs):
    ci = modules["ci"]
    (provider,) = ci.of_type("aws_iam_openid_connect_provider").values()
    assert provider["url"] == "https://${local.github_issuer}"
    assert ci.locals["github_issuer"] == "token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    assert ci.locals["environment"] == (
        "repo:${var.github_repository}:environment:${var.github_environment}"
    )
    # every release job that assumes a role runs in the env's GitHub environment (build and
    # scan included: their role ARN is an environment variable), so no branch subject
    assert "main_branch" not in ci.locals
    subjects = {"build": ["${local.environment}"], "deploy": ["${local.environment}"]}
    roles = ci.of_type("aws_iam_role")
    assert set(roles) == set(CI_ROLES) == set(subjects)
    for key, role in roles.items():
        trust = re.fullmatch(
            r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", role["assume_role_policy"]
        )
        (statement,) = statements(ci.documents()[trust.group(1)])
        assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
        assert statement["principals"] == [
            {"type": "Federated", "identifiers": ["${aws_iam_openid_connect_provider.github.arn}"]}
        ]
        conditions = {c["variable"]: (c["test"], c["values"]) for c in statement["condition"]}
        # exact subjects (StringEquals, no pattern): no other repository, branch or environment
        assert conditions == {
            "${local.github_issuer}:aud": ("StringEquals", ["sts.amazonaws.com"]),
            "${local.github_issuer}:sub": ("StringEquals", subjects[key]),
        }
        assert role["name"] == f"${{var.name}}-ci-{key}"
    # the environments release.yml deploys in
    assert {resolve(e.modules["ci"]["github_environment"], e.locals) for e in envs.values()} == {
        "staging",
        "production",
    }


def test_ci_roles_push_the_images_and_deploy_and_nothing_else(modules, envs):
    ci = modules["ci"]
    # the build role pushes the three images; the deploy role pulls the two it runs or checks
    deployed = {"${var.serving_repository_arn}", "${var.jobs_repository_arn}"}
    repositories = deployed | {"${var.mlflow_repository_arn}"}
    login = ("ecr:GetAuthorizationToken", "*")
    pull = {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    push = {
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    }
    build = grants(ci.documents()["build"], ci.locals)
    assert build == {login} | {(a, r) for a in pull | push for r in repositories}
    deploy = grants(ci.documents()["deploy"], ci.locals)
    assert deploy == {login, ("eks:DescribeCluster", "${var.cluster_arn}")} | {
        (a, r) for a in pull for r in deployed
    }
    policies = ci.of_type("aws_iam_role_policy")
    attached = {name: (body["role"], body["policy"]) for name, body in policies.items()}
    assert attached == {
        key: (f"${{aws_iam_role.{key}.id}}", f"${{data.aws_iam_policy_document.{key}.json}}")
        for key in CI_ROLES
    } | {
        "build_source": (
            "${aws_iam_role.build.id}",
            "${data.aws_iam_policy_document.build_source.json}",
        )
    }
    # the build role may also pull the source account's repositories (prod copies staging's
    # digests), attached only when there are some
    source = grants(ci.documents()["build_source"], ci.locals)
    assert source == {(a, "${var.source_repository_arns}") for a in pull}
    assert policies["build_source"]["count"] == "${length(var.source_repository_arns) > 0 ? 1 : 0}"
    assert ci.variables["source_repository_arns"]["default"] == []
    # the deploy role may apply the overlay in the cluster (EKS access entry), the build role not
    (entry,) = ci.of_type("aws_eks_access_entry").values()
    assert entry["principal_arn"] == "${aws_iam_role.deploy.arn}"
    for env in envs.values():
        call = env.modules["ci"]
        assert call["cluster_arn"] == "${module.eks.cluster_arn}"
        assert call["serving_repository_arn"] == (
            "${module.registry.repository_arns[local.serving_image]}"
        )
        assert call["jobs_repository_arn"] == "${module.registry.repository_arns[local.jobs_image]}"
        assert call["mlflow_repository_arn"] == (
            "${module.registry.repository_arns[local.mlflow_image]}"
        )
        for key in CI_ROLES:
            assert env.outputs[f"ci_{key}_role_arn"]["value"] == f"${{module.ci.{key}_role_arn}}"
    # prod's build role pulls from staging's repositories, which let exactly that role in
    assert envs["prod"].modules["ci"]["source_repository_arns"] == "${var.source_repository_arns}"
    assert "source_repository_arns" not in envs["staging"].modules["ci"]
    assert envs["staging"].modules["registry"]["pull_principal_arns"] == (
        "${var.image_copy_role_arns}"
    )
    assert "pull_principal_arns" not in envs["prod"].modules["registry"]
    assert envs["staging"].outputs["repository_arns"]["value"] == (
        "${module.registry.repository_arns}"
    )


def test_the_registry_lets_other_accounts_pull_only_when_told(modules):
    registry = modules["registry"]
    (policy,) = registry.of_type("aws_ecr_repository_policy").values()
    assert policy["for_each"] == (
        "${length(var.pull_principal_arns) > 0 ? aws_ecr_repository.this : {}}"
    )
    assert policy["policy"] == "${data.aws_iam_policy_document.pull.json}"
    (statement,) = statements(registry.documents()["pull"])
    assert statement["principals"] == [{"type": "AWS", "identifiers": "${var.pull_principal_arns}"}]
    assert set(statement["actions"]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    }
    assert registry.variables["pull_principal_arns"]["default"] == []


# --- OpenTofu's own checks ---------------------------------------------------------------------


def tofu(*args: str, cwd: Path = TERRAFORM) -> subprocess.CompletedProcess:
    # no user CLI configuration: fmt needs none, and a missing one only prints warnings
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    return subprocess.run(
        [str(tool("tofu")), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_tofu_fmt_finds_nothing_to_change(tmp_path):
    result = tofu("fmt", "-check", "-recursive", "-diff", "-no-color", str(TERRAFORM))
    assert result.returncode == 0, result.stdout + result.stderr
    # the backend examples are HCL too, formatted like a .tfvars file
    for env in ENVS:
        copy = tmp_path / f"{env}.tfvars"
        copy.write_text((TERRAFORM / "envs" / env / "backend.hcl.example").read_text())
        result = tofu("fmt", "-check", "-diff", "-no-color", str(copy))
        assert result.returncode == 0, result.stdout + result.stderr


def test_tofu_fmt_check_fails_on_a_misformatted_file(tmp_path):
    (tmp_path / "main.tf").write_text('locals {\n  a = "x"\n  long_name = "y"\n}\n')
    result = tofu("fmt", "-check", "-no-color", str(tmp_path))
    assert result.returncode != 0
    assert "main.tf" in result.stdout


def tflint(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    config = TERRAFORM / ".tflint.hcl"
    return subprocess.run(
        [str(tool("tflint")), f"--config={config}", "--no-color", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tflint_finds_nothing():
    # the bundled Terraform ruleset, every rule: unused declarations, undocumented or untyped
    # variables, missing version constraints, module structure, deprecated syntax
    result = tflint("--recursive", cwd=TERRAFORM)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tflint_fails_on_an_unused_variable(tmp_path):
    for name in ("main.tf", "outputs.tf"):
        (tmp_path / name).write_text("")
    (tmp_path / "versions.tf").write_text('terraform {\n  required_version = ">= 1.6.0"\n}\n')
    (tmp_path / "variables.tf").write_text(
        'variable "unused" {\n  description = "x"\n  type        = string\n}\n'
    )
    result = tflint(cwd=tmp_path)
    assert result.returncode != 0
    assert "terraform_unused_declarations" in result.stdout
