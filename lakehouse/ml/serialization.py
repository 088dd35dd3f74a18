"""Safe model serialisation: skops with an explicit allowlist, never a silent pickle.

MLflow 3 saves scikit-learn models with skops, which loads only types it trusts. Instead of
trusting whatever a model happens to contain (or falling back to pickle, which runs arbitrary
code on load), the types skops does not trust by default are checked against an allowlist of
reviewed libraries; anything else stops the training run with a clear error.
"""

from __future__ import annotations

from importlib.metadata import version

import skops.io

# Modules whose types may be loaded from a model file. Extending this is a security review.
ALLOWED_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")
SERIALIZATION_FORMAT = "skops"


class UnsafeModelError(TypeError):
    """The model holds a type outside the allowlist, so it cannot be saved safely."""


def trusted_types(model: object) -> list[str]:
    """The types skops needs told to trust to load ``model``, all inside the allowlist.

    Raises:
        UnsafeModelError: When a type comes from outside ``ALLOWED_TYPE_PREFIXES``.
    """
    untrusted = sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    refused = [name for name in untrusted if not name.startswith(ALLOWED_TYPE_PREFIXES)]
    if refused:
        raise UnsafeModelError(
            "the model contains types that skops cannot load safely and that are not on the "
            f"allowlist ({', '.join(ALLOWED_TYPE_PREFIXES)}): {', '.join(refused)}. Use library "
            "types, or review these and extend lakehouse.ml.serialization.ALLOWED_TYPE_PREFIXES."
        )
    return untrusted


# What loading a model needs, pinned to what trained it. Declared rather than inferred: MLflow's
# inference imports the model in a subprocess, which costs seconds per run.
RUNTIME_PACKAGES = ("scikit-learn", "skops", "numpy", "scipy", "pandas")


def pip_requirements() -> list[str]:
    """Exact pins of the packages a saved model needs to load and predict."""
    return [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES]
