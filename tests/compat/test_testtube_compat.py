"""hypertuner's HyperOptArgumentParser against the original ``test-tube`` 0.7.5.

Each snippet runs under test-tube 0.7.5 and under hypertuner with the import line changed. The
snippets compare the values users see; they leave out ``hpc_exp_number``, an attribute test-tube
adds to every namespace for its ``SlurmCluster`` (which hypertuner does not claim). Random draws
differ by nature, so random-search snippets compare what must hold for any draw (counts, ranges,
distinctness) rather than the draws themselves.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.compat._differential import TEST_TUBE, assert_same, run_hypertuner, run_original

# test-tube imports torch when it is imported: each original run takes seconds, not a fraction.
pytestmark = pytest.mark.slow

_HEADER = '''\
from test_tube import HyperOptArgumentParser


def values(namespace):
    """The namespace's values, without methods and test-tube's SLURM-only hpc_exp_number."""
    return {
        key: value
        for key, value in sorted(vars(namespace).items())
        if not callable(value) and key != "hpc_exp_number"
    }


'''


def snippet(body: str) -> str:
    """A test-tube program: its import line, the ``values()`` helper, then ``body``."""
    return _HEADER + textwrap.dedent(body)


# ---------------------------------------------------------------------------------------------
# The documented parser API


def test_docs_parse_args_keeps_the_defaults_of_tunable_arguments(tmp_path: Path) -> None:
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="random_search")
            parser.add_argument("--learning_rate", default=0.002, type=float, help="the lr")
            parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
            parser.opt_range("--neurons", default=50, type=int, tunable=True, low=100, high=800,
                             nb_samples=10)
            hparams = parser.parse_args()
            emit(values(hparams))
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_docs_random_search_trials(tmp_path: Path) -> None:
    """``hparams.trials(20)`` on the docs' parser: 20 distinct trials from the options."""
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="random_search")
            parser.add_argument("--learning_rate", default=0.002, type=float, help="the lr")
            parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
            parser.opt_range("--neurons", default=50, type=int, tunable=True, low=100, high=800,
                             nb_samples=10)
            hparams = parser.parse_args()
            trials = [values(trial) for trial in hparams.trials(20)]
            pairs = {(t["nb_layers"], t["neurons"]) for t in trials}
            emit({
                "count": len(trials),
                "distinct": len(pairs),
                "keys": sorted({key for t in trials for key in t}),
                "layers in options": all(t["nb_layers"] in (2, 4, 8) for t in trials),
                "neurons are ints in range": all(
                    isinstance(t["neurons"], int) and 100 <= t["neurons"] <= 800 for t in trials
                ),
                "neuron values": len({t["neurons"] for t in trials}) <= 10,
                "learning_rate": sorted({t["learning_rate"] for t in trials}),
                "parsed values unchanged": [hparams.nb_layers, hparams.neurons],
            })
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_docs_grid_search_trials_in_product_order(tmp_path: Path) -> None:
    """Grid search walks the product of the options in declaration order; ``trials(n)`` cuts it."""
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="grid_search")
            parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
            parser.opt_list("--act", default="relu", type=str, tunable=True,
                            options=["relu", "tanh"])
            parser.opt_list("--fixed", default=1, type=int, tunable=False, options=[5, 6])
            hparams = parser.parse_args()
            emit({
                "trials(2)": [values(t) for t in hparams.trials(2)],
                "trials(None)": [values(t) for t in hparams.trials(None)],
                "trials(100)": len(list(hparams.trials(100))),
                "generate_trials(3)": [values(t) for t in hparams.generate_trials(3)],
                "parsed": values(hparams),
            })
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_docs_opt_range_draws_distinct_integers_once(tmp_path: Path) -> None:
    """``opt_range(type=int, low=100, high=800, nb_samples=8)``: 8 distinct ints; default kept."""
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="grid_search")
            parser.opt_range("--neurons", default=50, type=int, tunable=True, low=100, high=800,
                             nb_samples=8)
            hparams = parser.parse_args()
            first = [t.neurons for t in hparams.trials(None)]
            again = [t.neurons for t in hparams.trials(None)]
            emit({
                "count": len(first),
                "distinct": len(set(first)),
                "ints in range": all(isinstance(v, int) and 100 <= v <= 800 for v in first),
                "same draws each time": first == again,
                "parsed": hparams.neurons,
            })
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_readme_opt_range_on_a_log_scale(tmp_path: Path) -> None:
    """``opt_range(..., log_base=10)``: every trial's value lies in ``[low, high]``."""
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="random_search")
            parser.opt_range("--neurons", default=50, type=int, tunable=True, low=100, high=800,
                             nb_samples=10, log_base=10)
            parser.opt_range("--lr", default=0.1, type=float, tunable=True, low=0.001, high=0.1,
                             nb_samples=5, log_base=10)
            hparams = parser.parse_args()
            trials = list(hparams.trials(20))
            emit({
                "some trials": 0 < len(trials) <= 20,
                "neurons in range": all(100 <= t.neurons <= 800 for t in trials),
                "lr in range": all(0.001 <= t.lr <= 0.1 for t in trials),
                "lr values": len({t.lr for t in trials}),
                "lr is a float": all(isinstance(t.lr, float) for t in trials),
            })
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_docs_json_config_replaces_the_defaults(tmp_path: Path) -> None:
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="grid_search")
            parser.add_argument("--learning_rate", default=0.002, type=float, help="the lr")
            parser.add_argument("--layers", default=2, type=int)
            parser.json_config("--config", default="example.json")
            hparams = parser.parse_args()
            emit(values(hparams))
            """
        ),
        TEST_TUBE,
        tmp_path,
        files={"example.json": '{"learning_rate": 200}'},
    )


def test_readme_parser_is_a_drop_in_argparse_parser(tmp_path: Path) -> None:
    """README: ``HyperOptArgumentParser(description=..., strategy=...)`` replaces ArgumentParser."""
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(description="Process some integers.",
                                            strategy="grid_search")
            parser.add_argument("first", type=int)
            parser.add_argument("--scale", type=float, default=1.0)
            parser.add_argument("--mode", choices=["a", "b"], default="a")
            parser.add_argument("--flag", action="store_true")
            args = parser.parse_args(["3", "--scale=0.5", "--mode", "b", "--flag"])
            try:
                parser.parse_args(["1", "--nope"])
                unknown = "accepted"
            except SystemExit as exc:
                unknown = ["SystemExit", exc.code]
            emit({"values": values(args), "description": parser.description,
                  "unknown option": unknown})
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_list_valued_arguments_parse_unlike_test_tube(tmp_path: Path) -> None:
    """test-tube 0.7.5's parse_args puts every parsed value in a set (its SLURM whitelist), so an
    argument with ``nargs="+"`` is a TypeError (unhashable list) there: no argparse drop-in.
    hypertuner parses it as argparse does."""
    source = snippet(
        """
        parser = HyperOptArgumentParser(strategy="grid_search")
        parser.add_argument("--ids", type=int, nargs="+", default=[1])
        try:
            emit(values(parser.parse_args(["--ids", "1", "2"])))
        except TypeError:
            emit("TypeError")
        """
    )
    original = run_original(source, TEST_TUBE, tmp_path / "original")
    assert original == "TypeError"
    ours = run_hypertuner(source, TEST_TUBE, tmp_path / "hypertuner", storage=tmp_path / "storage")
    assert ours == {"ids": [1, 2]}


def test_command_line_value_is_parsed_and_trials_still_use_the_options(tmp_path: Path) -> None:
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="grid_search")
            parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4])
            hparams = parser.parse_args(["--nb_layers", "8"])
            emit([hparams.nb_layers, [t.nb_layers for t in hparams.trials(None)]])
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_dashed_option_names_become_underscored_attributes(tmp_path: Path) -> None:
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="grid_search")
            parser.opt_list("--nb-layers", default=2, type=int, tunable=True, options=[2, 4])
            hparams = parser.parse_args()
            emit([values(hparams), [values(t) for t in hparams.trials(None)]])
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


# ---------------------------------------------------------------------------------------------
# Nothing tunable; errors


def test_trials_with_nothing_tunable_gives_one_trial(tmp_path: Path) -> None:
    """``trials(n)`` with no tunable argument yields the plain values once, whatever ``n`` is."""
    assert_same(
        snippet(
            """
            out = {}
            for strategy in ("grid_search", "random_search"):
                parser = HyperOptArgumentParser(strategy=strategy)
                parser.add_argument("--learning_rate", default=0.002, type=float)
                parser.opt_list("--layers", default=2, type=int, tunable=False, options=[2, 4])
                hparams = parser.parse_args()
                out[strategy] = {
                    "trials(5)": [values(t) for t in hparams.trials(5)],
                    "generate_trials(3)": [values(t) for t in hparams.generate_trials(3)],
                }
            emit(out)
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_random_search_without_a_trial_count_is_a_type_error(tmp_path: Path) -> None:
    assert_same(
        snippet(
            """
            parser = HyperOptArgumentParser(strategy="random_search")
            parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
            hparams = parser.parse_args()
            try:
                list(hparams.trials(None))
                emit("no error")
            except TypeError:
                emit("TypeError")
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_unknown_strategy_is_a_value_error(tmp_path: Path) -> None:
    """test-tube raises when trials are generated; raising earlier, at the parser, is as good."""
    assert_same(
        snippet(
            """
            try:
                parser = HyperOptArgumentParser(strategy="bayes_search")
                parser.opt_list("--x", default=1, type=int, tunable=True, options=[1, 2])
                list(parser.parse_args().trials(2))
                emit("no error")
            except ValueError:
                emit("ValueError")
            """
        ),
        TEST_TUBE,
        tmp_path,
    )


def test_readme_gpu_line_gets_an_error_that_names_the_mistake(tmp_path: Path) -> None:
    """The README calls ``optimize_parallel_gpu(..., nb_trials=192, nb_workers=4)``, which
    test-tube itself refuses (its keyword is ``max_nb_trials``; the workers are the ``gpu_ids``).
    hypertuner refuses it too, as a TypeError that names the wrong keyword and the right one,
    before any trial runs."""
    source = snippet(
        """
        import os

        calls = []


        def fit(trial, gpu_ids):
            calls.append(gpu_ids)


        parser = HyperOptArgumentParser(strategy="random_search")
        parser.add_argument("--learning_rate", default=0.002, type=float, help="the lr")
        parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
        hparams = parser.parse_args()
        try:
            hparams.optimize_parallel_gpu(fit, gpu_ids=["1", "2,3", "0"], nb_trials=192,
                                          nb_workers=4)
            emit({"error": None})
        except TypeError as exc:
            emit({"error": "TypeError", "message": str(exc), "calls": calls,
                  "storage": os.path.isdir(os.environ.get("HYPERTUNER_STORAGE", "-"))})
        """
    )
    original = run_original(source, TEST_TUBE, tmp_path / "original")
    assert original["error"] == "TypeError"  # test-tube's README line fails in test-tube too
    assert "unexpected keyword argument 'nb_trials'" in original["message"]
    ours = run_hypertuner(source, TEST_TUBE, tmp_path / "hypertuner", storage=tmp_path / "storage")
    assert ours["error"] == "TypeError", ours
    assert "nb_trials" in ours["message"], ours["message"]
    assert "max_nb_trials" in ours["message"], ours["message"]
    assert "_parser_sweep" not in ours["message"], ours["message"]
    assert ours["calls"] == []
    assert ours["storage"] is False  # nothing was started


# ---------------------------------------------------------------------------------------------
# Sweeps: optimize_parallel_cpu and optimize_parallel_gpu


@pytest.mark.slow
def test_readme_optimize_parallel_cpu(tmp_path: Path) -> None:
    """``optimize_parallel_cpu(fit, nb_trials=192, nb_workers=2)`` over a two-value space: each
    trial once, as ``[trial_params, result]`` pairs in trial order."""
    assert_same(
        snippet(
            """
            def fit(trial):
                return trial.nb_layers * 10


            if __name__ == "__main__":
                parser = HyperOptArgumentParser(strategy="grid_search")
                parser.add_argument("--learning_rate", default=0.002, type=float)
                parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4])
                hparams = parser.parse_args()
                results = hparams.optimize_parallel_cpu(fit, nb_trials=192, nb_workers=2)
                emit([[values(params), result] for params, result in results])
            """
        ),
        TEST_TUBE,
        tmp_path,
        timeout=180,
    )


@pytest.mark.slow
def test_unguarded_top_level_optimize_parallel_cpu(tmp_path: Path) -> None:
    """A test-tube script calls optimize_parallel_cpu at its top level, with no
    ``if __name__ == "__main__":`` guard; it works under test-tube and must work unchanged."""
    assert_same(
        snippet(
            """
            def fit(trial):
                return trial.nb_layers * 10


            parser = HyperOptArgumentParser(strategy="grid_search")
            parser.add_argument("--learning_rate", default=0.002, type=float)
            parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4])
            hparams = parser.parse_args()
            results = hparams.optimize_parallel_cpu(fit, nb_trials=2, nb_workers=2)
            emit(sorted(([values(params), result] for params, result in results),
                        key=lambda pair: pair[1]))
            """
        ),
        TEST_TUBE,
        tmp_path,
        timeout=180,
    )


@pytest.mark.slow
def test_unguarded_top_level_optimize_parallel_gpu(tmp_path: Path) -> None:
    """The same for optimize_parallel_gpu: each trial gets one ``gpu_ids`` entry, and
    ``CUDA_VISIBLE_DEVICES`` set to it while it runs (no GPU is needed for that)."""
    assert_same(
        snippet(
            """
            import os


            def fit(trial, gpu_ids):
                return [gpu_ids, os.environ.get("CUDA_VISIBLE_DEVICES")]


            parser = HyperOptArgumentParser(strategy="grid_search")
            parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
            hparams = parser.parse_args()
            results = hparams.optimize_parallel_gpu(fit, gpu_ids=["1", "2,3"], max_nb_trials=3)
            emit({
                "trials": sorted(values(params)["nb_layers"] for params, result in results),
                "each on its own set": all(r[0] == r[1] and r[0] in ("1", "2,3")
                                           for params, r in results),
            })
            """
        ),
        TEST_TUBE,
        tmp_path,
        timeout=180,
    )


@pytest.mark.slow
def test_optimize_parallel_cpu_with_nothing_tunable_runs_one_trial(tmp_path: Path) -> None:
    assert_same(
        snippet(
            """
            def fit(trial):
                return trial.learning_rate * 2


            if __name__ == "__main__":
                parser = HyperOptArgumentParser(strategy="grid_search")
                parser.add_argument("--learning_rate", default=0.5, type=float)
                hparams = parser.parse_args()
                results = hparams.optimize_parallel_cpu(fit, nb_trials=5, nb_workers=2)
                emit([[values(params), result] for params, result in results])
            """
        ),
        TEST_TUBE,
        tmp_path,
        timeout=180,
    )
