"""`make demo`: train the quickstart model twice, with two configs, and show where the runs are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = {
    "quickstart-small": ["--config", "configs/base.json"],
    "quickstart-big": ["--config", "configs/base.json", "--config", "configs/big.json"],
}


def main() -> int:
    storage = Path(os.environ.get("HYPERTUNER_STORAGE", "storage")).resolve()
    for name, config in RUNS.items():
        command = [sys.executable, str(HERE / "train.py"), *config, f"--name={name}"]
        print("$", " ".join(command[1:]), flush=True)
        done = subprocess.run(
            command, check=False, env={**os.environ, "HYPERTUNER_STORAGE": str(storage)}
        )
        if done.returncode != 0:
            return done.returncode
    print()
    print(f"The two runs are in {storage}:")
    for name in RUNS:
        print(f"  {storage / name}/  (config.json, meta.json)")
    print()
    print("Compare them:")
    print(f"  diff {storage}/quickstart-small/config.json {storage}/quickstart-big/config.json")
    print("Train again with a change (a new name makes a new run):")
    print(
        "  .venv/bin/python examples/quickstart/train.py --config=configs/base.json "
        "train.lr=0.1 --name=lr01"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
