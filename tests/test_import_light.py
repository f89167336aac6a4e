"""`import hypertuner` stays light: it loads exactly an allowed set of modules (an allowlist, so
any new eager import fails here), never torch, lightning, tensorboard or yaml."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What parse(), Args, param_scope and auto_param need; every other public name loads on first use.
ALLOWED = {
    "hypertuner",
    "hypertuner._accessor",
    "hypertuner._files",
    "hypertuner._formats",
    "hypertuner._layout",
    "hypertuner._scopestate",
    "hypertuner._trees",
    "hypertuner._view",
    "hypertuner.args",
    "hypertuner.config",
    "hypertuner.errors",
    "hypertuner.run",
    "hypertuner.scope",
    # the standard library modules those import
    "_contextvars",
    "_json",
    "_typing",
    "_weakrefset",
    "atexit",
    "collections.abc",
    "contextvars",
    "json",
    "json.decoder",
    "json.encoder",
    "json.scanner",
    "math",
    "signal",
    "threading",
    "typing",
    "typing.io",
    "typing.re",
}

HEAVY = (
    "torch",
    "lightning",
    "pytorch_lightning",
    "tensorboard",
    "tensorboardX",
    "ray",
    "fsspec",
    "matplotlib",
    "yaml",
    "omegaconf",
    "numpy",
)


def _loaded_by(code: str) -> set[str]:
    """The modules that ``code`` adds to ``sys.modules`` in a fresh interpreter."""
    program = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


def test_import_hypertuner_loads_only_the_allowed_modules() -> None:
    loaded = _loaded_by("import hypertuner")
    assert loaded - ALLOWED == set()


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("import hypertuner", id="import"),
        pytest.param("import hypertuner.cli\nhypertuner.cli._build()", id="cli-parser"),
        pytest.param(
            "import hypertuner\nhypertuner.parse(['lr=0.1'], defaults={'lr': 0.0}, "
            "storage=__import__('tempfile').mkdtemp())",
            id="parse",
        ),
    ],
)
def test_no_heavy_module_is_loaded(code: str) -> None:
    heavy = {m for m in _loaded_by(code) if m.split(".")[0] in HEAVY}
    assert heavy == set()


def test_a_lazy_name_loads_its_module_on_first_use() -> None:
    loaded = _loaded_by("import hypertuner\nhypertuner.sweep")
    assert "hypertuner.launch" in loaded
    assert "hypertuner.saver" not in loaded
