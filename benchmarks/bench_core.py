"""Benchmark of the core (issue 2): import, ``parse()``, ``Args`` reads, scopes, ``@auto_param``.

Every figure is measured side by side with its reference in this one run and printed as a ratio
against the issue's target. The references (omegaconf, hydra-core, hyperparameter) come from
``benchmarks/requirements.txt``; a missing reference tool makes its rows say so instead of failing.

Run: ``python benchmarks/bench_core.py`` (the issue's sizes; about a minute) or with ``--quick``
(fewer repeats, same sizes) on a busy machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from timeit import Timer
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, python_env, row, standard_options, table, timeit, timeit_stmt

SECTIONS = (
    "model",
    "optimizer",
    "data",
    "trainer",
    "augment",
    "loss",
    "scheduler",
    "logging",
    "eval",
    "system",
)
NAMED = {
    "model": ["layers", "width", "activation", "dropout"],
    "optimizer": ["lr", "momentum", "weight_decay", "nesterov"],
    "data": ["batch_size", "workers", "shuffle", "root"],
    "trainer": ["max_epochs", "precision", "devices", "accumulate"],
}
OVERRIDES = [
    "model.layers=4",
    "model.activation=gelu",
    "optimizer.lr=0.01",
    "data.batch_size=64",
    "trainer.max_epochs=10",
    "loss.p7=true",
    "scheduler.sub.p1=0.5",
    "augment.p9=[1,2,3]",
    "logging.p6=run-b",
    "system.p5=7",
]


# ---------------------------------------------------------------------------------------------
# Data: three config files of ~200 keys each


def _value(kind: int, seed: int) -> Any:
    return [
        seed * 3 + kind,
        round(0.001 * (seed + 1) * (kind + 1), 6),
        f"value-{seed}-{kind}",
        (seed + kind) % 2 == 0,
        [seed, seed + 1, kind],
    ][kind % 5]


def make_config(seed: int) -> dict[str, Any]:
    """Return a nested config of 200 leaves: 10 sections of 15 keys plus a 5-key subsection."""
    config: dict[str, Any] = {}
    for s, section in enumerate(SECTIONS):
        names = NAMED.get(section, []) + [f"p{i}" for i in range(len(NAMED.get(section, [])), 15)]
        node: dict[str, Any] = {name: _value(i + s, seed + i) for i, name in enumerate(names)}
        node["sub"] = {f"p{i}": _value(i, seed * 7 + i) for i in range(5)}
        config[section] = node
    config["model"].update(
        layers=2 + seed, width=64 * (seed + 1), activation="relu", dropout=0.1 * seed
    )
    config["optimizer"].update(lr=0.1 / (seed + 1), momentum=0.9, weight_decay=0.0, nesterov=False)
    config["data"].update(batch_size=32, workers=2, shuffle=True, root=f"/data/{seed}")
    config["trainer"].update(max_epochs=5 + seed, precision=32, devices=1, accumulate=1)
    config["loss"]["p7"] = False
    config["scheduler"]["sub"]["p1"] = 0.1
    config["augment"]["p9"] = [seed]
    config["logging"]["p6"] = "run-a"
    config["system"]["p5"] = seed
    return config


def _yaml_text(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


class Workspace:
    """A temporary folder with the three configs as JSON, YAML copies for Hydra, and the scripts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.configs = [make_config(seed) for seed in range(3)]
        self.json_paths = []
        self.hydra_dir = root / "hydra_conf"
        self.hydra_dir.mkdir()
        for name, config in zip("abc", self.configs, strict=True):
            path = root / f"{name}.json"
            path.write_text(json.dumps(config, indent=2))
            self.json_paths.append(path)
            (self.hydra_dir / f"{name}.yaml").write_text(_yaml_text(config))
        (self.hydra_dir / "main.yaml").write_text("defaults:\n  - a\n  - b\n  - c\n  - _self_\n")
        self.argv = [f"--config={p}" for p in self.json_paths] + OVERRIDES
        self.hypertuner_script = root / "train_hypertuner.py"
        self.hypertuner_script.write_text("import hypertuner\n\nargs = hypertuner.parse()\n")
        self.hydra_script = root / "train_hydra.py"
        self.hydra_script.write_text(
            textwrap.dedent(
                f"""\
                import hydra


                @hydra.main(
                    config_path={str(self.hydra_dir)!r}, config_name="main", version_base=None
                )
                def main(cfg):
                    pass


                main()
                """
            )
        )
        self.git = self._make_repository()
        n_keys = [_count_leaves(c) for c in self.configs]
        sizes = "/".join(map(str, n_keys))
        self.description = (
            f"3 JSON files of {sizes} keys, {len(OVERRIDES)} overrides, in {root} "
            f"({'a git repository' if self.git else 'not a git repository: git is missing'})"
        )

    def _make_repository(self) -> bool:
        """Make the folder a git repository with one commit, as a project usually is.

        ``parse()`` records the commit and dirty flag of the script's repository, so the
        whole-script figure includes that as a user would see it.
        """
        steps = [
            ["git", "init", "-q"],
            ["git", "add", "-A"],
            [
                "git",
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@localhost",
                "commit",
                "-qm",
                ".",
            ],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, cwd=self.root, capture_output=True, check=False)
            except OSError:
                return False
            if done.returncode != 0:
                return False
        return True


def _merge(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Merge ``other`` into a copy of ``base``: dicts key by key, anything else replaced."""
    out = dict(base)
    for key, value in other.items():
        old = out.get(key)
        out[key] = (
            _merge(old, value) if isinstance(value, dict) and isinstance(old, dict) else value
        )
    return out


def _count_leaves(tree: Any) -> int:
    if isinstance(tree, dict):
        return sum(_count_leaves(v) for v in tree.values())
    return 1


def _namespace(tree: Any) -> Any:
    if isinstance(tree, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in tree.items()})
    return tree


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _missing(figure: str, tool: str) -> Row:
    print(
        f"note: {tool} is not installed; '{figure}' is not measured "
        "(pip install -r benchmarks/requirements.txt)."
    )
    return row(figure, float("nan"), None, "")


# ---------------------------------------------------------------------------------------------
# Whole processes


def interleaved(commands: Sequence[tuple[Sequence[str], str]], repeat: int) -> list[list[float]]:
    """Run each ``(argv, cwd)`` ``repeat`` times, alternating, after one warm-up; wall seconds."""
    env = python_env()
    samples: list[list[float]] = [[] for _ in commands]
    for i in range(repeat + 1):
        for j, (argv, cwd) in enumerate(commands):
            start = time.perf_counter()
            done = subprocess.run(
                list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False
            )
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                msg = f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}"
                raise RuntimeError(msg)
            if i:
                samples[j].append(elapsed)
    return samples


def bench_import(work: Workspace, repeat: int) -> list[Row]:
    """``python -c "import hypertuner"`` against ``python -c "import omegaconf"``."""
    py = sys.executable
    cwd = str(work.root)
    ours, ref, bare = interleaved(
        [
            ([py, "-c", "import hypertuner"], cwd),
            ([py, "-c", "import omegaconf"], cwd),
            ([py, "-c", "pass"], cwd),
        ],
        repeat,
    )

    def ms(samples: list[float]) -> str:
        return f"median {statistics.median(samples) * 1e3:.1f} ms, min {min(samples) * 1e3:.1f} ms"

    print(
        f"import ({repeat} runs each, interleaved): hypertuner {ms(ours)}; omegaconf {ms(ref)}; "
        f"bare interpreter {ms(bare)}"
    )
    print(import_breakdown(py, cwd))
    return [
        row(
            "python -c 'import hypertuner' vs omegaconf (median)",
            statistics.median(ours),
            statistics.median(ref),
            "<= 1.15x",
        ),
        row("  same, fastest run", min(ours), min(ref), ""),
    ]


def import_breakdown(py: str, cwd: str, runs: int = 7) -> str:
    """Return where ``import hypertuner``'s time goes: what the package's own import line pulls in.

    From ``python -X importtime``: the cumulative time of each module imported directly under
    ``hypertuner`` (its submodules, and the stdlib or third-party modules that they are first to
    import), median of ``runs`` runs, biggest first.
    """
    times: dict[str, list[int]] = {}
    for _ in range(runs):
        done = subprocess.run(
            [py, "-X", "importtime", "-c", "import hypertuner"],
            cwd=cwd,
            env=python_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:  # a diagnostic only: say why, never fail the benchmark
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return f"import hypertuner breakdown: not available, the import failed ({last})"
        children: list[tuple[str, int]] = []  # importtime prints children before their parent
        for line in done.stderr.splitlines():
            parts = line.split("|")
            if len(parts) != 3 or not parts[1].strip().isdigit():
                continue
            name = parts[2]
            depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
            if depth == 1:
                children.append((name.strip(), int(parts[1])))
            elif depth == 0:
                if name.strip() == "hypertuner":
                    times.setdefault("(total)", []).append(int(parts[1]))
                    for module, micros in children:
                        times.setdefault(module, []).append(micros)
                children = []
    medians = {m: statistics.median(v) / 1e3 for m, v in times.items() if len(v) * 2 > runs}
    total = medians.pop("(total)", 0.0)
    ranked = sorted(medians.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{m} {t:.1f}" for m, t in ranked if t >= 0.5)
    head = f"import hypertuner breakdown (ms, cumulative, median of {runs}; total {total:.1f})"
    return f"{head}: {shown}"


def bench_scripts(work: Workspace, repeat: int) -> list[Row]:
    """A script that only calls ``parse()`` against the same script with ``@hydra.main``."""
    figure = "script: parse() (run folder written) vs @hydra.main"
    if not _available("hydra"):
        return [_missing(figure, "hydra-core")]
    py = sys.executable
    ours_cwd = work.root / "cwd_hypertuner"
    hydra_cwd = work.root / "cwd_hydra"
    ours_cwd.mkdir(exist_ok=True)
    hydra_cwd.mkdir(exist_ok=True)
    ours_argv = [py, str(work.hypertuner_script), *work.argv, f"--storage={ours_cwd / 'storage'}"]
    hydra_argv = [py, str(work.hydra_script), *OVERRIDES]
    ours, ref = interleaved([(ours_argv, str(ours_cwd)), (hydra_argv, str(hydra_cwd))], repeat)
    runs = list((ours_cwd / "storage").iterdir())
    if len(runs) != repeat + 1 or not all((r / "config.json").is_file() for r in runs):
        where = ours_cwd / "storage"
        msg = f"expected {repeat + 1} run folders with config.json in {where}, found {len(runs)}"
        raise RuntimeError(msg)
    meta = json.loads((runs[0] / "meta.json").read_text())
    if work.git and not (meta.get("git") or {}).get("commit"):
        msg = f"{runs[0] / 'meta.json'} has no git commit although the script is in a repository"
        raise RuntimeError(msg)
    return [row(figure + " (median)", statistics.median(ours), statistics.median(ref), "<= 0.5x")]


# ---------------------------------------------------------------------------------------------
# In process: parse / resolve


def bench_parse(work: Workspace, repeat: int) -> tuple[list[Row], Any]:
    """``resolve()`` (``parse()`` without the run folder) against OmegaConf's route and Hydra."""
    import hypertuner
    from hypertuner.config import resolve

    argv = list(work.argv)
    expected = resolve(argv).config
    assert expected["model"]["layers"] == 4, expected["model"]
    assert expected["augment"]["p9"] == [1, 2, 3], expected["augment"]
    ours = timeit(lambda: resolve(argv), repeat=repeat)
    rows: list[Row] = []

    from omegaconf import OmegaConf

    paths = work.json_paths

    def omegaconf_route() -> dict[str, Any]:
        layers = []
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                layers.append(OmegaConf.create(json.load(handle)))
        merged = OmegaConf.merge(*layers, OmegaConf.from_dotlist(OVERRIDES))
        return OmegaConf.to_container(merged, resolve=True)  # type: ignore[return-value]

    assert omegaconf_route() == expected, "OmegaConf's route and resolve() disagree on the config"
    ref = timeit(omegaconf_route, repeat=repeat)
    rows.append(
        row("parse() w/o run folder [resolve(argv)] vs OmegaConf route", ours, ref, ">= 5x faster")
    )

    if _available("hydra"):
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(work.hydra_dir), version_base=None):
            cfg = compose(config_name="main", overrides=OVERRIDES)
            assert OmegaConf.to_container(cfg, resolve=True) == expected, (
                "Hydra and resolve() disagree"
            )
            hydra_time = timeit(
                lambda: compose(config_name="main", overrides=OVERRIDES), repeat=max(3, repeat // 2)
            )
        rows.append(
            row(
                "parse() w/o run folder [resolve(argv)] vs Hydra compose",
                ours,
                hydra_time,
                ">= 10x faster",
            )
        )
    else:
        rows.append(_missing("parse() w/o run folder vs Hydra compose", "hydra-core"))

    # Context: what the plain-dict floor is, and what the run folder adds.
    loaded = [json.loads(p.read_text()) for p in paths]

    def plain_merge() -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for layer in loaded:
            merged = _merge(merged, layer)
        return merged

    rows.append(
        row(
            "  context: plain-dict merge of the 3 loaded files",
            timeit(plain_merge, repeat=repeat),
            ours,
            "",
        )
    )
    storage = tempfile.mkdtemp(dir=work.root, prefix="storage-inproc-")
    rows.append(
        row(
            "  context: parse() in-process, run folder written (ends the last run)",
            timeit(
                lambda: hypertuner.parse(argv, storage=storage),
                repeat=max(3, repeat // 2),
                number=10,
            ),
            ours,
            "",
        )
    )
    args = hypertuner.parse(argv, storage=storage)
    return rows, args


# ---------------------------------------------------------------------------------------------
# In process: reads, scopes, auto_param


def bench_reads(args: Any, config: dict[str, Any], repeat: int) -> list[Row]:
    """``args.model.layers`` against a SimpleNamespace and a DictConfig read of the same config."""
    from omegaconf import OmegaConf

    spaces = {"args": args, "ns": _namespace(config), "cfg": OmegaConf.create(config), "d": config}
    assert args.model.layers == spaces["ns"].model.layers == spaces["cfg"].model.layers
    ours = timeit_stmt("args.model.layers", spaces, repeat=repeat)
    ns = timeit_stmt("ns.model.layers", spaces, repeat=repeat)
    dictconfig = timeit_stmt("cfg.model.layers", spaces, repeat=max(3, repeat // 2), unroll=5)
    plain = timeit_stmt("d['model']['layers']", spaces, repeat=repeat)
    return [
        row("args.model.layers read vs SimpleNamespace", ours, ns, "<= 10x"),
        row("args.model.layers read vs DictConfig", ours, dictconfig, ">= 30x faster"),
        row("  context: d['model']['layers'] on a dict", plain, ours, ""),
    ]


def bench_scope_read(config: dict[str, Any], repeat: int) -> list[Row]:
    """``ps.model.layers`` inside a ``param_scope`` (hyperparameter's read for context)."""
    from hypertuner import param_scope
    from hypertuner._trees import flatten

    with param_scope(**config) as ps:
        ours = timeit_stmt("ps.model.layers", {"ps": ps}, repeat=repeat)
    reference = None
    if _available("hyperparameter"):
        hp_scope, _ = _hp_api()
        with hp_scope(**flatten(config)) as hps:
            assert hps.model.layers() == config["model"]["layers"]
            reference = timeit_stmt("ps.model.layers()", {"ps": hps}, repeat=repeat, unroll=5)
    return [
        row(
            "ps.model.layers read in a param_scope (ref: hyperparameter's ps.model.layers())",
            ours,
            reference,
            "<= 0.3 us",
        )
    ]


def _hp_api() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Return hyperparameter's scope and decorator.

    They are ``scope``/``param`` from version 0.6 on, ``param_scope``/``auto_param`` before.
    """
    import hyperparameter as hp

    scope = getattr(hp, "scope", None) or hp.param_scope
    decorator = getattr(hp, "param", None) or hp.auto_param
    return scope, decorator


def _scope_values(size: int) -> dict[str, Any]:
    """Return a flat scope of ``size`` dotted keys, two of which feed ``net``."""
    values: dict[str, Any] = {f"sec{i // 20}.key{i % 20}": i for i in range(size - 2)}
    values["net.layers"] = 4
    values["net.activation"] = "gelu"
    return values


def _functions() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``net`` (to decorate) and an identical undecorated ``plain``; both return what they got."""

    def net(x: int, layers: int = 3, width: int = 64, activation: str = "relu") -> tuple[Any, ...]:
        return x, layers, activation

    def plain(
        x: int, layers: int = 3, width: int = 64, activation: str = "relu"
    ) -> tuple[Any, ...]:
        return x, layers, activation

    return net, plain


NESTED = "with S(**kw):\n    f(1)"


class _Case:
    """One statement timed by :func:`interleaved_stmts`, inside the context ``enter()`` gives."""

    def __init__(
        self,
        stmt: str,
        namespace: dict[str, Any],
        enter: Callable[[], contextlib.AbstractContextManager[Any]],
    ) -> None:
        self.timer = Timer("\n".join([stmt] * UNROLL), globals=namespace)
        self.empty = Timer("pass", globals=namespace)
        self.enter = enter
        with enter():
            number, _ = self.timer.autorange()
        self.number = max(1, number // 4)  # samples of ~50 ms
        self.best = float("inf")
        self.best_empty = float("inf")


UNROLL = 10


def interleaved_stmts(cases: Sequence[_Case], rounds: int) -> list[float]:
    """Return the seconds per execution of each case, sampled in turn for ``rounds`` rounds.

    Taking the samples of all cases in rotation, rather than one case after another, puts each
    through the same moments of a shared machine's load, so their differences and ratios hold
    even when the absolute times drift. The empty loop's time is subtracted.
    """
    for _ in range(rounds):
        for case in cases:
            with case.enter():
                case.best = min(case.best, case.timer.timeit(case.number))
                case.best_empty = min(case.best_empty, case.empty.timeit(case.number))
    return [max(c.best - c.best_empty, 0.0) / (c.number * UNROLL) for c in cases]


def bench_auto_param(sizes: Sequence[int], repeat: int) -> list[Row]:
    """A call of an ``@auto_param`` function minus a plain call, in scopes of growing size.

    The calls at every size, and the plain calls, are sampled in rotation (see
    :func:`interleaved_stmts`), so the flatness figure compares like moments.
    """
    from hypertuner import auto_param, param_scope

    have_hp = _available("hyperparameter")
    rows: list[Row] = []
    cases: list[_Case] = []
    for size in sizes:
        values = _scope_values(size)
        net, plain = _functions()
        ours_fn = auto_param(net)
        with param_scope(**values):
            assert ours_fn(1) == (1, 4, "gelu"), ours_fn(1)

        def enter(values: dict[str, Any] = values) -> contextlib.AbstractContextManager[Any]:
            return param_scope(**values)

        space = {"f": ours_fn, "g": plain}
        cases += [_Case("f(1)", space, enter), _Case("g(1)", space, enter)]
    timed = interleaved_stmts(cases, rounds=2 * repeat)
    calls = {size: (timed[2 * k], timed[2 * k + 1]) for k, size in enumerate(sizes)}
    overheads = {size: max(ours - plain, 1e-10) for size, (ours, plain) in calls.items()}

    for size in sizes:
        values = _scope_values(size)
        net, _ = _functions()
        ours_fn = auto_param(net)
        with param_scope(**values):
            nested = {"S": param_scope, "f": ours_fn, "kw": {"net.layers": 5}}
            with param_scope(net={"layers": 5}):
                assert ours_fn(1) == (1, 5, "gelu"), ours_fn(1)
            ours_nested = timeit_stmt(NESTED, nested, repeat=max(3, repeat // 2), unroll=2)
        reference = hp_nested = None
        if have_hp:
            hp_scope, hp_decorator = _hp_api()
            hp_net, hp_plain = _functions()
            hp_fn = hp_decorator(hp_net)
            with hp_scope(**values):
                assert hp_fn(1) == (1, 4, "gelu"), hp_fn(1)
                space = {"f": hp_fn, "g": hp_plain}
                hp_call = timeit_stmt("f(1)", space, repeat=max(3, repeat // 2), unroll=5)
                hp_plain_call = timeit_stmt("g(1)", space, repeat=repeat, unroll=10)
                nested = {"S": hp_scope, "f": hp_fn, "kw": {"net.layers": 5}}
                hp_nested = timeit_stmt(NESTED, nested, repeat=max(3, repeat // 2), unroll=2)
            reference = max(hp_call - hp_plain_call, 1e-10)
        ours_call, plain_call = calls[size]
        print(
            f"auto_param, scope of {size} keys: plain call {plain_call * 1e9:.0f} ns, "
            f"@auto_param call {ours_call * 1e9:.0f} ns"
            + (f", @hp.param call {hp_call * 1e9:.0f} ns" if have_hp else "")
        )
        ours = overheads[size]
        rows.append(
            row(f"@auto_param call - plain call, scope of {size} keys", ours, reference, "<= 1 us")
        )
        if have_hp:
            rows.append(
                row(f"  same vs hyperparameter @param, {size} keys", ours, reference, ">= 5x less")
            )
        else:
            rows.append(
                _missing(f"@auto_param vs hyperparameter @param, {size} keys", "hyperparameter")
            )
        rows.append(
            row(
                f"  context: nested 1-key scope + 1 call, in {size} keys",
                ours_nested,
                hp_nested,
                "",
            )
        )
    small, large = min(sizes), max(sizes)
    rows.append(
        row(
            f"@auto_param overhead flat: {large} keys vs {small} keys",
            overheads[large],
            overheads[small],
            "<= 1.5x",
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="hypertuner-bench-") as folder:
        yield Workspace(Path(folder))


def main(argv: list[str] | None = None) -> int:
    parser = standard_options(__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="10,200,1000",
        help="scope sizes for the @auto_param figure (default: 10,200,1000)",
    )
    options = parser.parse_args(argv)
    quick = options.quick
    repeat = options.repeat or (3 if quick else 7)
    process_repeat = options.repeat or (8 if quick else 40)
    script_repeat = options.repeat or (4 if quick else 15)
    sizes = [int(s) for s in options.sizes.split(",")]

    import hypertuner.errors

    warnings.simplefilter("ignore", hypertuner.errors.HypertunerWarning)
    os.environ.pop("HYPERTUNER_STORAGE", None)
    started = time.perf_counter()
    with workspace() as work:
        print(
            f"bench_core: Python {sys.version.split()[0]} at {sys.executable}; {work.description}"
        )
        rows: list[Row] = []
        rows += bench_import(work, process_repeat)
        rows += bench_scripts(work, script_repeat)
        # Scope figures before parse(): parse() installs its config as the base scope.
        rows += bench_scope_read(work.configs[0], repeat)
        rows += bench_auto_param(sizes, repeat)
        parse_rows, args = bench_parse(work, repeat)
        rows += parse_rows
        rows += bench_reads(args, args.to_dict(), repeat)
        run = hypertuner.current_run()
        if run is not None:
            run.finish()
    print(f"({time.perf_counter() - started:.0f} s)")
    table(rows, title="core (issue 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
