"""`import hypertuner` must stay light: no torch, lightning or tensorboard."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "torch",
    "lightning",
    "pytorch_lightning",
    "tensorboard",
    "tensorboardX",
    "ray",
    "fsspec",
    "matplotlib",
)


def test_import_hypertuner_loads_no_heavy_module() -> None:
    code = f"import sys, hypertuner\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_cli_module_loads_no_heavy_module() -> None:
    code = (
        "import sys, hypertuner.cli\n"
        "hypertuner.cli._build()\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
