"""The Terraform (infra/terraform) as data: every .tf file of a directory parsed with
python-hcl2 and merged by block kind, and the few helpers that read expressions without a
provider. Used by tests/infra/test_terraform.py and tests/infra/test_deploy_consistency.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from lakehouse.config import PROJECT_ROOT

TERRAFORM = PROJECT_ROOT / "infra" / "terraform"
MODULES = (
    "network",
    "eks",
    "storage",
    "log_store",
    "secrets",
    "iam",
    "database",
    "online_store",
    "registry",
    "ci",
)
ENVS = ("staging", "prod")
HCL = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)
REFERENCE = re.compile(r"\$\{(?:local|var)\.(\w+)\}")


@dataclass
class Config:
    """One directory's .tf files, merged by block kind."""

    path: Path
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict] = field(default_factory=list)
    providers: list[dict] = field(default_factory=list)

    def of_type(self, kind: str) -> dict[str, dict]:
        """The resources of one type, by name."""
        return {name: body for (typ, name), body in self.resources.items() if typ == kind}

    def documents(self) -> dict[str, dict]:
        """The aws_iam_policy_document data sources, by name."""
        return {n: b for (t, n), b in self.data.items() if t == "aws_iam_policy_document"}


def parse(path: Path) -> dict:
    with path.open() as handle:
        return hcl2.load(handle, serialization_options=HCL)


def load_config(folder: Path) -> Config:
    config = Config(folder)
    for path in sorted(folder.glob("*.tf")):
        parsed = parse(path)
        for block in parsed.get("resource", []) + parsed.get("data", []):
            target = config.resources if block in parsed.get("resource", []) else config.data
            for kind, named in block.items():
                for name, body in named.items():
                    assert (kind, name) not in target, f"{path}: {kind}.{name} twice"
                    target[(kind, name)] = body
        for key, target in (
            ("module", config.modules),
            ("variable", config.variables),
            ("output", config.outputs),
        ):
            for block in parsed.get(key, []):
                target.update(block)
        for block in parsed.get("locals", []):
            config.locals.update(block)
        config.terraform += parsed.get("terraform", [])
        config.providers += parsed.get("provider", [])
    return config


def strings(value: Any) -> Iterator[str]:
    """Every string in a parsed value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def resolve(value: Any, scope: dict[str, Any]) -> Any:
    """``value`` with ``${local.x}`` / ``${var.x}`` replaced from ``scope`` (repeatedly); a
    value that is one whole reference keeps the referenced value's type."""
    for _ in range(5):
        if not isinstance(value, str):
            return value
        whole = REFERENCE.fullmatch(value)
        if whole and whole.group(1) in scope:
            value = scope[whole.group(1)]
            continue
        replaced = REFERENCE.sub(
            lambda m: str(scope[m.group(1)]) if m.group(1) in scope else m.group(0), value
        )
        if replaced == value:
            return value
        value = replaced
    return value


def statements(document: dict) -> list[dict]:
    found = document.get("statement", [])
    assert found, "a policy document without statements"
    return found


def resources_of(statement: dict) -> list[str]:
    """A statement's resources: a list, or one whole list-typed reference (``var.x``) kept as
    one item rather than read as its characters."""
    resources = statement.get("resources", [])
    return [resources] if isinstance(resources, str) else list(resources)


def grants(document: dict, scope: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, resource) pairs a document allows, resources resolved through ``scope``."""
    pairs = {
        (action, resolve(resource, scope))
        for statement in statements(document)
        if statement.get("effect", "Allow") == "Allow"
        for action in statement["actions"]
        for resource in resources_of(statement)
    }
    assert pairs, "a permission document that grants nothing"
    return pairs
