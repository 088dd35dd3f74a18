"""Import rules of the code layout (docs/ARCHITECTURE.md): each folder imports only what it may.

Static rules read every module's imports (function-level imports included) from its source;
the "no pyspark" rules also import the modules in a fresh interpreter, since a rule on direct
imports alone would miss a chain through a third module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package.replace(".", "/")).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute dotted names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Module -> the imports of it that fall under a forbidden prefix."""
    found = {}
    for path in paths:
        bad = sorted(
            name
            for name in imports_of(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        if bad:
            found[module_name(path)] = bad
    return found


def transform_modules() -> list[Path]:
    return [p for layer in ("bronze", "silver", "gold") for p in modules(f"lakehouse.{layer}")]


def test_transforms_do_no_io():
    """Bronze, Silver and Gold modules are pure: tables, files and sessions belong to io/jobs."""
    forbidden = (
        "lakehouse.io",
        "lakehouse.pipeline",
        "lakehouse.spark",
        "lakehouse.ml",
        "delta.tables",
        "deltalake",
        "boto3",
        "mlflow",
    )
    assert offending(transform_modules(), forbidden) == {}


def test_generator_does_not_import_the_pipeline():
    """The generator writes what real feeds send; it must not borrow the pipeline's rules."""
    layers = ("bronze", "silver", "gold", "pipeline", "io", "ml", "features", "spark")
    forbidden = (*(f"lakehouse.{layer}" for layer in layers), "pyspark", "serving")
    assert offending(modules("lakehouse.generate"), forbidden) == {}


def test_service_imports_no_pyspark_directly():
    assert offending(modules("serving"), ("pyspark", "delta", "lakehouse.spark")) == {}


# pyspark refuses to import, as in the service's image where it is not installed
PROBE = """
import importlib, sys

class NoSpark:
    def find_spec(self, name, path=None, target=None):
        if {blocked} and name.split(".")[0] in ("pyspark", "py4j"):
            raise ImportError(f"{{name}} is blocked")

sys.meta_path.insert(0, NoSpark())
for name in sys.argv[1:]:
    importlib.import_module(name)
print(sorted(m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")))
"""

# The online path: every twin (``*_online.py``) and the values it shares with Spark
# (``*_rules.py``), what they read, the JVM-free reader, the composer; and the generator.
ONLINE_MODULES = [
    "lakehouse.contract",
    "lakehouse.errors",
    "lakehouse.spark_semantics",
    "lakehouse.io.delta_reader",
    *(
        module_name(p)
        for p in transform_modules()
        if p.stem.endswith("_online") or p.stem.endswith("_rules")
    ),
    "lakehouse.features",
    "lakehouse.features.delivery_online",
    "lakehouse.features.fraud_online",
    "lakehouse.generate",
]


def test_every_layer_has_its_twins():
    """The glob above finds the twins (an empty list would make the next test vacuous)."""
    twins = {name for name in ONLINE_MODULES if name.endswith("_online")}
    assert twins >= {
        "lakehouse.bronze.sessions_online",
        "lakehouse.silver.sessions_online",
        "lakehouse.silver.payments_online",
        "lakehouse.gold.delivery_online",
        "lakehouse.gold.payments_online",
    }


def loaded_pyspark_modules(*names: str, blocked: bool = True) -> list[str]:
    """Import ``names`` in a fresh interpreter; return the pyspark modules that got loaded.

    With ``blocked``, importing pyspark raises, so a module that needs it fails the test.
    """
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(blocked=blocked), *names],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_the_service_runs_without_pyspark():
    """Every serving module, and so the online twins it uses, loads without pyspark."""
    names = [module_name(p) for p in modules("serving")]
    assert loaded_pyspark_modules(*names) == []


def test_the_online_path_imports_no_pyspark():
    assert loaded_pyspark_modules(*ONLINE_MODULES) == []


def test_the_probe_sees_pyspark():
    """The check itself can fail: a Spark module loads pyspark, or fails where it is blocked."""
    assert "pyspark" in loaded_pyspark_modules("lakehouse.silver.normalize", blocked=False)
    with pytest.raises(AssertionError, match="pyspark is blocked"):
        loaded_pyspark_modules("lakehouse.silver.normalize")


@pytest.mark.parametrize("package", ["serving"])
def test_no_import_cycles(package):
    """No two modules of the package import each other, directly or through others."""
    paths = modules(package)
    names = {module_name(p) for p in paths}
    graph = {
        module_name(p): {
            n for n in imports_of(p) if n in names and n != module_name(p) and n != package
        }
        for p in paths
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(name for name in graph if reaches(name, name, {name}))
    assert cycles == []
