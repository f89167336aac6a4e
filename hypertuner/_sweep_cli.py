"""``hypertuner sweep SCRIPT ...``: run a training script once per trial of a search space.

Registered on the ``hypertuner`` command by :mod:`hypertuner.cli`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ._clitools import add_storage_option
from .errors import SearchSpecError
from .launch import SweepResults, sweep
from .search import is_dimension_expression, parse_dimension

__all__ = ["add_commands"]


_VALUE_OPTIONS = {
    "--workers": "workers",
    "--strategy": "strategy",
    "--trials": "trials",
    "--seed": "seed",
    "--name": "name",
    "--storage": "storage",
    "--backend": "backend",
    "--metric": "metric",
    "--mode": "mode",
    "--pruner": "pruner",
    "--gpu": "gpu",
    "--ray-address": "ray_address",
}
_FLAG_OPTIONS = {"--no-progress": "no_progress"}


def add_commands(sub: Any) -> None:
    """Register ``hypertuner sweep`` on the ``hypertuner`` command's subparsers."""
    parser = sub.add_parser(
        "sweep",
        help="run a script once per trial of a search space",
        description=(
            "Run SCRIPT once per trial, each an ordinary run named <sweep>-<index>. Arguments "
            "written key=choice(...), key=uniform(low,high), key=loguniform(low,high[,base]) or "
            "key=range(start,stop[,step]) are searched; every other argument goes to the script "
            "unchanged. Sweep options may come before or after SCRIPT. Running the same command "
            "again resumes the sweep. With --strategy tpe|gp|cmaes each trial is drawn from the "
            "results so far; with --pruner asha|hyperband|median hopeless trials stop early (both "
            "watch the --metric the script logs; pip install 'hypertuner[search]')."
        ),
    )
    parser.add_argument("script", help="the training script (it calls hypertuner.parse())")
    parser.add_argument(
        "args",
        nargs=argparse.REMAINDER,
        help="--config files, key=value overrides and key=choice(...) dimensions",
    )
    parser.add_argument("--workers", type=int, default=None, help="trials at once (default 1)")
    parser.add_argument(
        "--strategy", default="grid", help="grid (default), random, tpe, gp or cmaes"
    )
    parser.add_argument("--trials", type=int, default=None, help="number of trials")
    parser.add_argument("--seed", type=int, default=None, help="random search seed")
    parser.add_argument("--name", default=None, help="the sweep's name (trials: NAME-<index>)")
    add_storage_option(parser)
    parser.add_argument("--backend", default=None, help="serial, process or ray")
    parser.add_argument("--metric", default=None, help="the logged metric that ranks the trials")
    parser.add_argument("--mode", default="min", help="min (default) or max")
    parser.add_argument(
        "--pruner", default=None, help="stop hopeless trials early: asha, hyperband or median"
    )
    parser.add_argument(
        "--gpu",
        action="append",
        default=None,
        metavar="IDS",
        help="a CUDA_VISIBLE_DEVICES entry; repeat for one worker per entry",
    )
    parser.add_argument(
        "--ray-address", default=None, help="the Ray cluster (default $RAY_ADDRESS)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress output")
    parser.set_defaults(handler=_sweep_command)


def _split_sweep_args(tokens: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Separate the sweep's own options (wherever they stand) from the script's arguments."""
    mine: dict[str, Any] = {}
    rest: list[str] = []
    items = list(tokens)
    i = 0
    while i < len(items):
        token = items[i]
        flag, eq, inline = token.partition("=")
        if flag in _VALUE_OPTIONS and token.startswith("--"):
            if eq:
                value = inline
            elif i + 1 < len(items):
                i += 1
                value = items[i]
            else:
                msg = f"Option {flag} needs a value."
                raise SearchSpecError(msg, key=flag)
            dest = _VALUE_OPTIONS[flag]
            if dest == "gpu":
                mine.setdefault("gpu", []).append(value)
            else:
                mine[dest] = value
        elif token in _FLAG_OPTIONS:
            mine[_FLAG_OPTIONS[token]] = True
        else:
            rest.append(token)
        i += 1
    return mine, rest


def _int_option(options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is None or isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        msg = f"Option --{key} expects an integer, not {value!r}."
        raise SearchSpecError(msg, key=key, value=value) from None


def _sweep_command(options: argparse.Namespace) -> int:
    extra, script_tokens = _split_sweep_args(options.args)
    merged = {k: v for k, v in vars(options).items() if k not in ("args", "handler", "command")}
    merged["trials"] = merged.pop("trials", None)
    merged.update(extra)
    space: dict[str, Any] = {}
    fixed: list[str] = []
    for token in script_tokens:
        key, eq, value = token.partition("=")
        if eq and not token.startswith("-") and is_dimension_expression(value):
            bare = key.lstrip("+")
            space[key] = parse_dimension(bare, value)
        else:
            fixed.append(token)
    if not space:
        msg = (
            "hypertuner sweep found no search dimension: add one such as "
            "'lr=choice(0.1,0.01)' or 'model.layers=range(2,8,2)'."
        )
        raise SearchSpecError(msg)
    try:
        results = sweep(
            merged["script"],
            space,
            strategy=merged.get("strategy") or "grid",
            n_trials=_int_option(merged, "trials"),
            seed=_int_option(merged, "seed"),
            name=merged.get("name"),
            storage=merged.get("storage"),
            workers=_int_option(merged, "workers"),
            backend=merged.get("backend"),
            gpus=merged.get("gpu"),
            metric=merged.get("metric"),
            mode=merged.get("mode") or "min",
            pruner=merged.get("pruner"),
            script_args=fixed,
            progress=False if merged.get("no_progress") else None,
            ray_address=merged.get("ray_address"),
        )
    except KeyboardInterrupt:
        print(
            "hypertuner: sweep interrupted; run the same command again to resume it.",
            file=sys.stderr,
        )
        return 130
    _print_summary(results)
    return 0 if all(t.status in _ENDED_WELL for t in results) else 1


#: Trials that ended as the sweep meant them to (a pruned trial was stopped on purpose).
_ENDED_WELL = ("finished", "pruned")


def _print_summary(results: SweepResults) -> None:
    print(results.summary())
