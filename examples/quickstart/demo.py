"""`make demo`: train the quickstart model twice, with two configs, and show where the runs are.

The small model (16 units, one layer) and the big one (64 units, two layers) fit the same data;
the big one ends with about a third of the small one's loss. A run that finished in an earlier
`make demo` is not trained again: delete its folder to retrain it.
"""

from __future__ import annotations

import json
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
        if _finished(storage / name):
            print(f"{name}: trained in an earlier run of the demo ({storage / name}); delete it to")
            print("  train it again.")
            continue
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


def _finished(folder: Path) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("status") == "finished"


if __name__ == "__main__":
    sys.exit(main())
