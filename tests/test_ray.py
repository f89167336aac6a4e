"""The Ray backend: on a local Ray instance started by the sweep itself, and on a three-node test
cluster (ray.cluster_utils.Cluster) that the sweep joins through RAY_ADDRESS."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hypertuner._layout import list_runs
from hypertuner._sweeprecord import JOURNAL, SWEEP_FILE

pytestmark = pytest.mark.slow  # a real Ray instance

pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]


def test_trials_run_as_ray_tasks_and_land_in_the_storage_as_ordinary_runs(tmp_path: Path) -> None:
    """The native example on Ray: a __main__ function, an @auto_param model, hypertuner.log,
    and storage given as a URL that every trial is mirrored to."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HYPERTUNER_STORAGE")}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "search" / "native_sweep.py"),
            "--backend",
            "ray",
            "--trials",
            "4",
            "--workers",
            "2",
            "--steps",
            "3",
            "--name",
            "on-ray",
            "--storage",
            f"file://{tmp_path / 'bucket'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ray: started a local instance." in done.stderr
    assert "sweep on-ray: 4/4 finished" in done.stdout
    storage = tmp_path / "storage"
    assert list_runs(storage) == ["on-ray-0", "on-ray-1", "on-ray-2", "on-ray-3"]
    # storage given as a URL: each Ray task mirrored its run there (no shared folder needed)
    assert list_runs(tmp_path / "bucket") == list_runs(storage)
    for index in range(4):
        meta = json.loads((storage / f"on-ray-{index}" / "meta.json").read_text())
        assert meta["status"] == "finished"
        assert meta["sweep"] == "on-ray"
        summary = json.loads((storage / f"on-ray-{index}" / "summary.json").read_text())
        assert summary["metrics"]["loss"]["last"] == pytest.approx(meta["result"])
    sweep = json.loads((storage / "on-ray" / SWEEP_FILE).read_text())
    assert (sweep["backend"], sweep["status"], sweep["counts"]) == (
        "ray",
        "finished",
        {"finished": 4},
    )
    lines = (storage / "on-ray" / JOURNAL).read_text().splitlines()
    assert len(lines) == 8


# ---------------------------------------------------------------------------------------------
# Sweeps that learn and stop early, on a local instance and on a three-node cluster


LEARN_SCRIPT = """
import json, os, sys, time
import hypertuner

def train(args):
    for step in range(6):
        hypertuner.log({"loss": args.x + 1.0 / (step + 1)}, step=step)
        time.sleep(0.05)
    return args.x

if __name__ == "__main__":
    results = hypertuner.sweep(train, {"x": hypertuner.uniform(0.0, 10.0)}, strategy="tpe",
                               pruner="median", metric="loss", n_trials=12, seed=0, workers=2,
                               backend="ray", name="learn", progress=False)
    print(json.dumps([t.status for t in results]))
"""


def test_tpe_with_a_pruner_on_ray_streams_values_and_prunes(tmp_path: Path) -> None:
    (tmp_path / "learn.py").write_text(LEARN_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HYPERTUNER_STORAGE")}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "learn.py")], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    statuses = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(statuses) <= {"finished", "pruned"}
    assert "pruned" in statuses  # the verdicts went back to the tasks through the broker
    study = (tmp_path / "storage" / "learn" / "study.jsonl").read_text()
    assert study.count('"op_code":7') >= 12  # intermediate values, as the trials logged them


CLUSTER_SCRIPT = """
import json, os, sys, time
import hypertuner

def train(args):
    for step in range(4):
        loss = args.x + 1.0 / (step + 1)
        hypertuner.log({"loss": loss}, step=step)
        time.sleep(float(os.environ["TRIAL_SLEEP"]))
    return {"loss": loss, "storage": os.environ.get("HYPERTUNER_STORAGE")}

if __name__ == "__main__":
    # No ray.init here: the Ray backend joins the cluster that RAY_ADDRESS names, as on a real one.
    results = hypertuner.sweep(train, {"x": hypertuner.uniform(0.0, 1.0)}, strategy="tpe",
                               metric="loss", n_trials=int(sys.argv[1]), seed=0, workers=2,
                               backend="ray", name="cluster", storage=sys.argv[2], progress=True)
    print(json.dumps([[t.status, t.result] for t in results]))
"""

# Ray turns a loopback address given to ray.init (the driver's RAY_ADDRESS, its _node_ip_address)
# into this machine's network address (services.resolve_ip_for_localhost), where the test
# cluster's GCS, bound to 127.0.0.1, does not listen: the driver then waits for it for ever. With
# this variable off, Ray takes this machine's own address to be 127.0.0.1, as on macOS and
# Windows (ray_constants.ENABLE_RAY_CLUSTER), and the driver joins the cluster over loopback.
LOOPBACK_DRIVER = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def _statuses(folder: Path) -> dict[str, str]:
    """Each trial run in a node's storage folder, by its status in meta.json (when readable)."""
    found = {}
    for meta in folder.glob("cluster-*/meta.json"):
        with contextlib.suppress(ValueError, OSError, KeyError, TypeError):
            found[meta.parent.name] = json.loads(meta.read_text())["status"]
    return found


@pytest.mark.timeout(420)
def test_a_three_node_cluster_mirrors_every_trial_and_reruns_those_of_a_removed_node(
    tmp_path: Path,
) -> None:
    """Head (no CPU) and two worker nodes on 127.0.0.1, each with its own storage folder; the
    sweep's storage an s3:// URL on a local moto_server. Node b is removed once it has finished a
    trial and runs another: that one runs again on node a; the journal accounts for every trial."""
    from ray._private import utils as ray_utils
    from ray.cluster_utils import Cluster

    from tests.test_storage import CREDENTIALS, MotoServer

    pytest.importorskip("s3fs")
    moto = MotoServer(tmp_path / "moto.log")
    moto.start()
    s3 = {**CREDENTIALS, "FSSPEC_S3_ENDPOINT_URL": moto.endpoint}
    nodes = {name: tmp_path / f"node-{name}" for name in ("a", "b")}
    # The cluster records its address for this machine's ray.init(): put back what was there.
    address_file = Path(ray_utils.get_ray_address_file(None))
    before = address_file.read_text() if address_file.exists() else None
    cluster: Any = None
    driver: subprocess.Popen[str] | None = None
    try:
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 0,
                "node_ip_address": "127.0.0.1",
                "include_dashboard": False,
            },
        )
        added = {
            name: cluster.add_node(
                num_cpus=1,
                node_ip_address="127.0.0.1",
                env_vars={**s3, "HYPERTUNER_STORAGE": str(folder), "TRIAL_SLEEP": "1.0"},
            )
            for name, folder in nodes.items()
        }
        cluster.wait_for_nodes()
        address = cluster.address
        (tmp_path / "cluster.py").write_text(CLUSTER_SCRIPT)
        env = {
            **{k: v for k, v in os.environ.items() if k != "HYPERTUNER_STORAGE"},
            **s3,
            **LOOPBACK_DRIVER,
            "RAY_ADDRESS": address,
            "TRIAL_SLEEP": "1.0",
        }
        driver = subprocess.Popen(
            [sys.executable, str(tmp_path / "cluster.py"), "6", "s3://bucket/runs"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # Wait until node b has finished a trial and runs another, then take node b away.
        deadline = time.monotonic() + 120
        on_b: dict[str, str] = {}
        while time.monotonic() < deadline and driver.poll() is None:
            on_b = _statuses(nodes["b"])
            if "finished" in on_b.values() and "running" in on_b.values():
                break
            time.sleep(0.1)
        running_on_b = sorted(name for name, status in on_b.items() if status == "running")
        assert running_on_b, f"node b never ran a second trial: {on_b}"
        cluster.remove_node(added["b"], allow_graceful=False)
        out, err = driver.communicate(timeout=180)
        assert driver.returncode == 0, err[-3000:]
        listing = sorted(p.rsplit("/", 1)[-1] for p in moto.filesystem().ls("bucket/runs"))
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
            driver.communicate()
        if cluster is not None:
            cluster.shutdown()
        if before is None:
            address_file.unlink(missing_ok=True)
        else:
            address_file.write_text(before)
        moto.stop()
    assert f"Ray: connected to {address}." in err  # RAY_ADDRESS, over loopback
    results = json.loads(out.strip().splitlines()[-1])
    assert [status for status, _ in results] == ["finished"] * 6
    used = {result["storage"] for _, result in results}
    assert used == {str(nodes["a"]), str(nodes["b"])}  # trials landed on both worker nodes
    assert listing == [f"cluster-{i}" for i in range(6)]  # and every one was mirrored
    lines = [json.loads(line) for line in (tmp_path / "storage" / "cluster" / "trials.jsonl")
             .read_text().splitlines()]  # fmt: skip
    latest: dict[int, str] = {}
    for line in lines:
        latest[line["index"]] = line["status"]
    assert latest == dict.fromkeys(range(6), "finished")
    rerun = {line["index"] for line in lines if line.get("attempt")}
    assert rerun == {int(name.rsplit("-", 1)[1]) for name in running_on_b}
    assert "running it again" in err
