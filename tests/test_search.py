"""Search spaces, strategies, test-tube's HyperOptArgumentParser, and every bad search input."""

from __future__ import annotations

import ast
import json
import math
import pickle
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import HyperOptArgumentParser, choice, cli, irange, loguniform, uniform
from hypertuner import testtube as testtube_module
from hypertuner.errors import HypertunerWarning, SearchArgumentError, SearchSpecError
from hypertuner.search import generate, parse_dimension

# ---------------------------------------------------------------------------------------------
# Strategies


def test_grid_is_the_product_in_stable_order_truncated_to_n_trials() -> None:
    space = {"lr": choice(0.1, 0.01), "model.layers": irange(2, 8, 2)}
    full = generate(space, "grid")
    assert full == [
        {"lr": 0.1, "model.layers": 2},
        {"lr": 0.1, "model.layers": 4},
        {"lr": 0.1, "model.layers": 6},
        {"lr": 0.01, "model.layers": 2},
        {"lr": 0.01, "model.layers": 4},
        {"lr": 0.01, "model.layers": 6},
    ]
    assert generate(space, "grid", n_trials=4) == full[:4]
    assert generate(space, "grid", n_trials=100) == full


def test_random_search_is_reproducible_with_a_seed_and_a_longer_run_extends_a_shorter_one() -> None:
    space = {"lr": loguniform(1e-5, 1.0), "act": choice("relu", "tanh"), "width": irange(8, 64)}
    first = generate(space, "random", 20, seed=3)
    assert first == generate(space, "random", 20, seed=3)
    assert generate(space, "random", 50, seed=3)[:20] == first
    assert first != generate(space, "random", 20, seed=4)


def test_random_search_on_a_finite_space_never_repeats_and_stops_at_its_size() -> None:
    space = {"a": choice(1, 2, 3), "b": irange(0, 4)}
    trials = generate(space, "random", 12, seed=0)
    assert len({json.dumps(t, sort_keys=True) for t in trials}) == 12
    assert len(generate(space, "random", 500, seed=0)) == 12
    assert generate(space, "random", 5, seed=1) == generate(space, "random", 12, seed=1)[:5]


def test_loguniform_draws_evenly_in_the_exponent_whatever_the_base() -> None:
    for base in (10, 2, math.e):
        values = [
            t["lr"]
            for t in generate({"lr": loguniform(1e-6, 1.0, log_base=base)}, "random", 4000, seed=0)
        ]
        assert all(1e-6 <= v <= 1.0 for v in values)
        # The median of a log-uniform draw is the geometric mean of the bounds (1e-3 here).
        assert 10**-3.3 < statistics.median(values) < 10**-2.7


def test_uniform_draws_inside_its_bounds() -> None:
    values = [t["x"] for t in generate({"x": uniform(-2.0, 3.0)}, "random", 1000, seed=0)]
    assert min(values) >= -2.0
    assert max(values) <= 3.0
    assert 0.0 < statistics.mean(values) < 1.0


def test_irange_follows_pythons_range() -> None:
    assert irange(2, 8, 2).values() == [2, 4, 6]
    assert irange(5, 0, -2).values() == [5, 3, 1]
    assert choice([2, 4, 8]).values() == [2, 4, 8]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        pytest.param("choice(0.1,0.01)", [0.1, 0.01], id="choice-numbers"),
        pytest.param(
            "choice(relu, 'tanh', true, null)", ["relu", "tanh", True, None], id="choice-words"
        ),
        pytest.param("range(2,8,2)", [2, 4, 6], id="range"),
        pytest.param("irange(1, 3)", [1, 2], id="irange"),
        pytest.param("choice([1, 2], [3])", [[1, 2], [3]], id="choice-lists"),
    ],
)
def test_command_line_expressions_parse_without_evaluating(text: str, values: list[Any]) -> None:
    assert parse_dimension("key", text).values() == values


def test_continuous_expressions_keep_their_bounds() -> None:
    dimension = parse_dimension("lr", "loguniform(1e-4, 1e-1, log_base=2)")
    assert (dimension.low, dimension.high, dimension.log_base) == (1e-4, 1e-1, 2)  # type: ignore[attr-defined]
    assert repr(parse_dimension("x", "uniform(-1, 1)")) == "uniform(-1, 1)"


def test_hundred_thousand_random_trials_of_six_parameters_are_generated() -> None:
    space = {
        "lr": loguniform(1e-5, 1e-1),
        "momentum": uniform(0.5, 0.99),
        "layers": choice(2, 4, 8),
        "width": irange(16, 1024, 16),
        "act": choice("relu", "tanh", "gelu"),
        "dropout": uniform(0.0, 0.5),
    }
    trials = generate(space, "random", 100_000, seed=0)
    assert len(trials) == 100_000
    assert set(trials[-1]) == set(space)


# ---------------------------------------------------------------------------------------------
# HyperOptArgumentParser (test-tube's documented behaviour)


def _documented_parser(
    strategy: str = "random_search", seed: int | None = 0
) -> HyperOptArgumentParser:
    parser = HyperOptArgumentParser(strategy=strategy, seed=seed)
    parser.add_argument("--learning_rate", default=0.002, type=float, help="the learning rate")
    parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
    parser.opt_range(
        "--neurons", default=50, type=int, tunable=True, low=100, high=800, nb_samples=10
    )
    return parser


def test_the_documented_snippet_keeps_plain_values_and_substitutes_tunables_in_trials() -> None:
    hparams = _documented_parser().parse_args([])
    assert (hparams.learning_rate, hparams.nb_layers, hparams.neurons) == (0.002, 2, 50)
    trials = list(hparams.trials(20))
    assert len(trials) == 20
    assert {t.nb_layers for t in trials} <= {2, 4, 8}
    assert all(100 <= t.neurons <= 800 and t.learning_rate == 0.002 for t in trials)
    assert len({(t.nb_layers, t.neurons) for t in trials}) == 20  # random search repeats no trial
    assert (hparams.nb_layers, hparams.neurons) == (2, 50)


def test_grid_search_yields_the_product_of_the_tunable_values() -> None:
    parser = HyperOptArgumentParser(strategy="grid_search")
    parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
    parser.opt_list("--act", default="relu", tunable=True, options=["relu", "tanh"])
    parser.opt_list("--fixed", default=1, type=int, tunable=False, options=[5, 6])
    hparams = parser.parse_args([])
    pairs = [(t.nb_layers, t.act, t.fixed) for t in hparams.generate_trials()]
    assert pairs == [
        (2, "relu", 1),
        (2, "tanh", 1),
        (4, "relu", 1),
        (4, "tanh", 1),
        (8, "relu", 1),
        (8, "tanh", 1),
    ]
    assert len(hparams.generate_trials(4)) == 4


def test_opt_range_draws_values_only_when_tunable_and_on_a_log_scale_with_log_base() -> None:
    parser = HyperOptArgumentParser(seed=0)
    parser.opt_range(
        "--lr",
        default=0.1,
        type=float,
        tunable=True,
        low=1e-6,
        high=1.0,
        nb_samples=400,
        log_base=10,
    )
    parser.opt_range("--units", default=5, type=int, tunable=False, low=1, high=9, nb_samples=3)
    parser.opt_range("--few", default=1, type=int, tunable=True, low=1, high=3, nb_samples=10)
    values = parser._opt_args["lr"].values
    assert len(values) == 400
    assert all(1e-6 <= v <= 1.0 for v in values)
    assert 10**-3.5 < statistics.median(values) < 10**-2.5
    assert parser._opt_args["units"].values == []
    assert parser._opt_args["few"].values == [1, 2, 3]  # at most the integers there are
    hparams = parser.parse_args([])
    assert {t.units for t in hparams.trials(5)} == {5}


def test_json_config_replaces_defaults_and_the_command_line_still_wins(tmp_path: Path) -> None:
    (tmp_path / "example.json").write_text('{"learning_rate": 200, "nb_layers": 4}')
    parser = _documented_parser()
    parser.json_config("--config", default=str(tmp_path / "example.json"))
    assert parser.parse_args([]).learning_rate == 200
    given = parser.parse_args(["--learning_rate", "0.5"])
    assert (given.learning_rate, given.nb_layers) == (0.5, 4)
    parser.add_argument("-n", dest="nb_neurons", default=8, type=int)
    for argv in (["--learning", "0.5"], ["--learning_rate=0.5"], ["--learn=0.5", "-n16"]):
        assert parser.parse_args(argv).learning_rate == 0.5, argv  # as argparse reads them
    assert parser.parse_args(["-n16"]).nb_neurons == 16
    parser.add_argument("--tag", action="append")
    parser.add_argument("-v", action="count")
    tagged = parser.parse_args(["--tag", "a", "-vv", "--learn=0.5"])  # each action runs once
    assert (tagged.tag, tagged.v, tagged.learning_rate) == (["a"], 2, 0.5)


def test_json_config_key_that_no_argument_declares_warns_with_the_nearest_name(
    tmp_path: Path,
) -> None:
    (tmp_path / "c.json").write_text('{"learning_rat": 1}')
    parser = _documented_parser()
    parser.json_config("--config")
    with pytest.warns(HypertunerWarning, match="'learning_rat'.*Did you mean 'learning_rate'"):
        hparams = parser.parse_args(["--config", str(tmp_path / "c.json")])
    assert hparams.learning_rat == 1


def test_json_config_that_is_missing_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _documented_parser()
    parser.json_config("--config", default="nowhere.json")
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args([])
    assert exit_info.value.code == 2
    assert "Config file 'nowhere.json' not found" in capsys.readouterr().err


def test_namespaces_pickle_and_vars_holds_only_the_values() -> None:
    hparams = _documented_parser().parse_args([])
    trial = next(hparams.trials(1))
    assert set(vars(trial)) == {"learning_rate", "nb_layers", "neurons"}
    again = pickle.loads(pickle.dumps(trial))
    assert vars(again) == vars(trial)
    assert len(list(again.trials(3))) == 3


def test_nothing_tunable_gives_one_trial_of_the_plain_values() -> None:
    """test-tube's product of no options is one trial, whatever the count asked for."""
    for strategy in ("grid_search", "random_search"):
        parser = HyperOptArgumentParser(strategy=strategy)
        parser.add_argument("--learning_rate", default=0.002, type=float)
        parser.opt_list("--layers", default=2, type=int, tunable=False, options=[2, 4])
        hparams = parser.parse_args([])
        assert [vars(t) for t in hparams.trials(5)] == [{"learning_rate": 0.002, "layers": 2}]
        assert len(hparams.generate_trials(None)) == 1


def test_optimize_parallel_cpu_with_nothing_tunable_runs_the_plain_values_once(
    storage: Path,
) -> None:
    parser = HyperOptArgumentParser(strategy="grid_search")
    parser.add_argument("--learning_rate", default=0.5, type=float)
    hparams = parser.parse_args([])
    results = hparams.optimize_parallel_cpu(vars, nb_trials=5, nb_workers=1, progress=False)
    assert [[vars(params), result] for params, result in results] == [
        [{"learning_rate": 0.5}, {"learning_rate": 0.5}]
    ]


@pytest.mark.parametrize(
    ("source", "line", "guarded"),
    [
        pytest.param("x = 1\nrun()\n", 2, False, id="top-level"),
        pytest.param("if __name__ == '__main__':\n    run()\n", 2, True, id="guard"),
        pytest.param("if '__main__' == __name__:\n    run()\n", 2, True, id="guard-reversed"),
        pytest.param(
            'try:\n    if __name__ == "__main__":\n        run()\nexcept E:\n    pass\n',
            3,
            True,
            id="guard-in-try",
        ),
        pytest.param(
            "if __name__ == '__main__':\n    pass\nelse:\n    run()\n", 4, False, id="else"
        ),
        pytest.param("if __name__ != '__main__':\n    run()\n", 2, False, id="not-a-guard"),
        pytest.param("with ctx():\n    run()\n", 2, False, id="with-block"),
    ],
)
def test_a_call_outside_the_main_guard_is_recognised(source: str, line: int, guarded: bool) -> None:
    """Where test-tube's forked workers are needed: a call the script's top level makes
    outside ``if __name__ == "__main__":`` (spawned workers would run it again)."""
    assert testtube_module._inside_main_guard(ast.parse(source).body, line) is guarded


def test_a_seeded_parser_gives_the_same_trials_each_time() -> None:
    first = [vars(t) for t in _documented_parser(seed=5).parse_args([]).trials(6)]
    assert first == [vars(t) for t in _documented_parser(seed=5).parse_args([]).trials(6)]


# ---------------------------------------------------------------------------------------------
# Bad input: one table. Each case raises before any trial starts, names the parameter, and
# leaves nothing in the storage folder.


def _noop(args: Any) -> None:
    return None


def _sweep(space: Any, **options: Any) -> Callable[[], Any]:
    return lambda: hypertuner.sweep(_noop, space, progress=False, **options)


def _parser_case(build: Callable[[HyperOptArgumentParser], Any]) -> Callable[[], Any]:
    def run() -> Any:
        parser = HyperOptArgumentParser(strategy="grid_search")
        return build(parser)

    return run


BAD_INPUTS = [
    pytest.param(_sweep({}), SearchSpecError, "search space is empty", id="empty-space"),
    pytest.param(
        _sweep({"lr": choice()}),
        SearchSpecError,
        "Parameter 'lr': choice\\(\\) has no options",
        id="empty-choice",
    ),
    pytest.param(
        _sweep({"lr": uniform(1.0, 0.1)}, strategy="random", n_trials=2),
        SearchSpecError,
        "Parameter 'lr': uniform\\(1.0, 0.1\\) has low 1.0 greater than high 0.1",
        id="low-above-high",
    ),
    pytest.param(
        _sweep({"lr": loguniform(0.0, 0.1)}, strategy="random", n_trials=2),
        SearchSpecError,
        "Parameter 'lr': .*positive bounds",
        id="loguniform-zero-bound",
    ),
    pytest.param(
        _sweep({"lr": loguniform(-1.0, 0.1)}, strategy="random", n_trials=2),
        SearchSpecError,
        "Parameter 'lr': .*positive bounds",
        id="loguniform-negative-bound",
    ),
    pytest.param(
        _sweep({"lr": loguniform(1e-3, 0.1, log_base=1)}, strategy="random", n_trials=2),
        SearchSpecError,
        "Parameter 'lr': .*log_base 1",
        id="loguniform-base-one",
    ),
    pytest.param(
        _sweep({"layers": irange(8, 2)}),
        SearchSpecError,
        "Parameter 'layers': irange\\(8, 2\\) is empty",
        id="empty-range",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1, float("inf"))}),
        SearchSpecError,
        "Parameter 'lr': choice\\(0.1, inf\\) cannot be searched: its option list sets "
        "'\\[1\\]' to inf, which the JSON snapshot cannot store",
        id="choice-of-inf",
    ),
    pytest.param(
        _sweep({"x": choice(1j)}),
        SearchSpecError,
        "Parameter 'x': choice\\(1j\\) cannot be searched: .* a complex",
        id="choice-of-complex",
    ),
    pytest.param(
        _sweep({"x": choice({1, 2})}),
        SearchSpecError,
        "Parameter 'x': .* a set",
        id="choice-of-set",
    ),
    pytest.param(
        _sweep({"x": irange(0, 10**18)}),
        SearchSpecError,
        "irange\\(0, 1000000000000000000\\) holds 1,000,000,000,000,000,000 values, too many",
        id="grid-over-a-huge-range",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, strategy="bayes"),
        SearchSpecError,
        "Unknown search strategy 'bayes'",
        id="unknown-strategy",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, backend="dask"),
        SearchSpecError,
        "Unknown backend 'dask'.*'serial', 'process', 'ray'",
        id="unknown-backend",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, workers=2, start_method="thread"),
        SearchSpecError,
        "start_method must be one of 'spawn', 'forkserver', 'fork', not 'thread'",
        id="unknown-start-method",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, gpus=["0", "1"], start_method="fork"),
        SearchSpecError,
        "start_method='fork' cannot be used with gpus",
        id="fork-with-gpus",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, workers=0),
        SearchSpecError,
        "workers must be a positive integer",
        id="zero-workers",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, strategy="random"),
        SearchSpecError,
        "Random search needs a trial count",
        id="random-without-count",
    ),
    pytest.param(
        _sweep({"lr": uniform(0.0, 1.0)}),
        SearchSpecError,
        "Parameter 'lr': grid search needs a list of values",
        id="grid-over-continuous",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, n_trials=0),
        SearchSpecError,
        "n_trials must be a positive integer",
        id="zero-trials",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, mode="best"),
        SearchSpecError,
        "mode must be 'min' or 'max'",
        id="unknown-mode",
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, gpus=[]), SearchSpecError, "gpu_ids is empty", id="no-gpu-ids"
    ),
    pytest.param(
        _sweep({"lr": choice(0.1)}, name="../x"),
        ValueError,
        "Run name '../x' is not allowed",
        id="unsafe-sweep-name",
    ),
    pytest.param(
        lambda: hypertuner.sweep(lambda a: a, {"lr": choice(1)}, workers=2, progress=False),
        SearchSpecError,
        "cannot be sent to a worker process",
        id="lambda-in-process-pool",
    ),
    pytest.param(
        lambda: parse_dimension("lr", "choice(0.1,"),
        SearchSpecError,
        "Override 'lr=choice\\(0.1,' for parameter 'lr' does not parse",
        id="unclosed-expression",
    ),
    pytest.param(
        lambda: parse_dimension("lr", "normal(0,1)"),
        SearchSpecError,
        "parameter 'lr' uses normal\\(\\), which is not a search function",
        id="unknown-function",
    ),
    pytest.param(
        lambda: parse_dimension("lr", "choice(__import__('os'))"),
        SearchSpecError,
        "parameter 'lr'.*is not a literal value",
        id="expression-is-not-evaluated",
    ),
    pytest.param(
        lambda: parse_dimension("lr", "uniform(1, 0)"),
        SearchSpecError,
        "parameter 'lr': uniform\\(1, 0\\) has low 1 greater than high 0",
        id="expression-low-above-high",
    ),
    pytest.param(
        lambda: HyperOptArgumentParser(strategy="bayes_search"),
        ValueError,
        "Unknown search strategy 'bayes_search'",
        id="parser-unknown-strategy",
    ),
    pytest.param(
        _parser_case(
            lambda p: p.opt_range("--neurons", default=5, type=int, tunable=True, low=800, high=100)
        ),
        SearchSpecError,
        "Parameter '--neurons'.*greater than high",
        id="opt-range-low-above-high",
    ),
    pytest.param(
        _parser_case(
            lambda p: p.opt_range(
                "--lr", default=0.1, type=float, tunable=True, low=0.0, high=1.0, log_base=10
            )
        ),
        SearchSpecError,
        "Parameter '--lr'.*positive bounds",
        id="opt-range-log-zero",
    ),
    pytest.param(
        _parser_case(lambda p: p.opt_list("--layers", default=2, type=int, tunable=True)),
        SearchSpecError,
        "Parameter '--layers'.*no options",
        id="opt-list-without-options",
    ),
    pytest.param(
        _parser_case(
            lambda p: (
                p.opt_list("--x", default=1, type=int, tunable=True, options=[1, 2]),
                p.parse_args([]).optimize_parallel_cpu(_noop, nb_workers=0),
            )
        ),
        SearchSpecError,
        "workers must be a positive integer",
        id="parser-zero-workers",
    ),
    pytest.param(
        lambda: (
            _documented_parser()
            .parse_args([])
            .optimize_parallel_gpu(_noop, gpu_ids=["1", "2,3", "0"], nb_trials=192, nb_workers=4)
        ),
        TypeError,
        r"takes no nb_trials or nb_workers keyword.*max_nb_trials=192.*one worker per gpu_ids "
        r"entry \(3 here\)",
        id="parser-gpu-readme-line",
    ),
    pytest.param(
        lambda: list(_documented_parser().parse_args([]).trials(None)),
        TypeError,
        "Random search needs a trial count",
        id="parser-random-without-count",
    ),
    pytest.param(
        _parser_case(
            lambda p: (
                p.opt_list("--x", default=1, type=int, tunable=True, options=[1, 2]),
                p.parse_args([]).optimize_parallel_cpu(_noop, max_nb_trials=2),
            )
        ),
        SearchArgumentError,
        "Unknown option 'max_nb_trials'",
        id="parser-unknown-option",
    ),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_INPUTS)
def test_bad_search_input_is_a_clear_error_before_any_trial(
    call: Callable[[], Any], error: type[Exception], match: str, storage: Path
) -> None:
    with pytest.raises(error, match=match):
        call()
    assert not storage.exists()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        pytest.param(
            ["lr=choice(0.1,"],
            r"Override 'lr=choice\(0.1,' for parameter 'lr' does not parse",
            id="unclosed",
        ),
        pytest.param(
            ["lr=choice(0.1)", "--workers", "0"],
            "workers must be a positive integer",
            id="zero-workers",
        ),
        pytest.param(
            ["lr=choice(0.1)", "--strategy", "rand"],
            "Unknown search strategy 'rand'.*Did you mean 'random'",
            id="unknown-strategy",
        ),
        pytest.param(["lr=0.1"], "found no search dimension", id="no-dimension"),
        pytest.param(
            ["lr=choice(0.1)", "--backend", "fast"],
            r"error: Unknown backend 'fast': use one of 'serial', 'process', 'ray'\.$",
            id="unknown-backend",
        ),
        pytest.param(
            ["lr=choice(0.1)", "--trials", "x"], "--trials expects an integer", id="bad-trial-count"
        ),
    ],
)
def test_bad_sweep_command_is_one_line_on_stderr_and_exit_2(
    argv: list[str], match: str, storage: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "train.py"
    script.write_text("raise SystemExit('never run')\n")
    assert cli.main(["sweep", str(script), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hypertuner: error: ")
    assert re.search(match, err)
    assert not storage.exists()


def _fails_on_four(trial: Any) -> int:
    if trial.x == 4:
        msg = "boom"
        raise ValueError(msg)
    return int(trial.x)


def test_a_failed_trial_of_optimize_parallel_cpu_gives_none_and_the_others_run(
    storage: Path,
) -> None:
    """test-tube re-raises the first trial error out of its pool; hypertuner records it and
    goes on (the error is in the sweep's journal and the run's meta.json)."""
    parser = HyperOptArgumentParser(strategy="grid_search")
    parser.opt_list("--x", default=1, type=int, tunable=True, options=[2, 4, 8])
    hparams = parser.parse_args([])
    results = hparams.optimize_parallel_cpu(
        _fails_on_four, nb_trials=3, nb_workers=1, progress=False
    )
    assert [result for _, result in results] == [2, None, 8]


def test_random_search_samples_a_range_too_large_to_list(storage: Path) -> None:
    results = hypertuner.sweep(
        lambda args: float(args.x % 7), {"x": irange(0, 10**18, 3)}, strategy="random",
        n_trials=3, seed=0, progress=False,
    )  # fmt: skip
    values = [trial.config["x"] for trial in results]
    assert len(set(values)) == 3
    assert all(0 <= v < 10**18 and v % 3 == 0 for v in values)
