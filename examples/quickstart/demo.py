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
        print(f"  {storage / name}/  (config.json, meta.json, model.pt, checkpoints/, events)")
    command = os.path.relpath(Path(sys.executable).parent / "hypertuner")
    where = "" if storage == Path("storage").resolve() else f" --storage {storage}"
    print()
    print("Compare them:")
    print(f"  {command} runs{where}          # the runs and their last metrics")
    print(f"  {command} diff {' '.join(RUNS)}{where}")
    print(f"  {command} compare --metric loss --mode min{where}")
    print(f"  {command} board{where}         # TensorBoard, with the HParams tab")
    print(f"  {command} ui{where}            # the page: compare, edit and launch runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
