"""param_scope / auto_param: nesting, threads, tasks, conversion, and the config feeding them."""

from __future__ import annotations

import asyncio
import contextvars
import json
import pickle
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import hypertuner
from hypertuner import auto_param, carry, param_scope
from hypertuner.errors import ConfigError, HypertunerWarning, UnknownKeyError
from tests.conftest import write


@auto_param
def dnn(inputs=None, layers=3, activation="relu"):
    return layers, activation


@auto_param()
def empty_parens(size=1):
    return size


@auto_param("myns")
def namespaced(depth=2):
    return depth


@auto_param
class Model:
    def __init__(self, width=8, *, dropout=0.0, use_bias=True):
        self.width, self.dropout, self.use_bias = width, dropout, use_bias


def test_seed_readme_nested_scope_example() -> None:
    with param_scope(a=1) as ps:
        with param_scope(a=2) as ps2:
            assert ps2.a == 2
        assert ps.a == 1


def test_inline_default_applies_without_a_scope() -> None:
    assert dnn() == (3, "relu")


def test_scope_strings_feed_auto_param_with_conversion() -> None:
    with param_scope("dnn.layers=4", "dnn.activation=sigmoid"):
        assert dnn() == (4, "sigmoid")


def test_explicit_argument_beats_scope_beats_default() -> None:
    with param_scope(**{"dnn": {"layers": 5}}):
        assert dnn() == (5, "relu")
        assert dnn(None, 7) == (7, "relu")
        assert dnn(layers=9) == (9, "relu")


def test_all_decorator_forms() -> None:
    with param_scope("empty_parens.size=2", "myns.depth=6", "namespaced.depth=100"):
        assert empty_parens() == 2
        assert namespaced() == 6


def test_a_decorator_name_is_the_full_key_prefix() -> None:
    """``@auto_param("myns")`` reads ``myns.depth`` (hyperparameter's rule), never
    ``myns.namespaced.depth``."""
    with param_scope("myns.namespaced.depth=6"):
        assert namespaced() == 2


def test_auto_param_on_a_class_feeds_init_including_keyword_only() -> None:
    with param_scope("Model.width=16", "Model.dropout=0.5", "Model.use_bias=false"):
        model = Model()
    assert (model.width, model.dropout, model.use_bias) == (16, 0.5, False)
    assert Model(4).width == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("false", False, id="false"),
        pytest.param("True", True, id="true"),
        pytest.param("0", False, id="zero"),
        pytest.param("yes", True, id="yes"),
    ],
)
def test_string_values_convert_to_bool_defaults(text: str, expected: bool) -> None:
    with param_scope(**{"Model.use_bias": text}):
        assert Model().use_bias is expected


def test_unconvertible_string_names_the_key() -> None:
    with (
        param_scope("dnn.layers=four"),
        pytest.raises(ConfigError, match=r"Key 'dnn.layers' is 'four', which is not a valid int"),
    ):
        dnn()


def test_scope_restores_outer_values_on_exception() -> None:
    seen = []

    def fail() -> None:
        with param_scope("dnn.layers=8"):
            seen.append(dnn()[0])
            raise RuntimeError

    with param_scope("dnn.layers=4"):
        with pytest.raises(RuntimeError):
            fail()
        assert seen == [8]
        assert dnn()[0] == 4
    assert dnn()[0] == 3


def test_scope_reads_nested_attributes_and_defaults() -> None:
    cfg = {"dnn": {"layers": 4, "activation": "sigmoid"}}
    with param_scope(**cfg) as ps:
        assert ps.dnn.layers == 4
        assert ps.get("dnn.width", 128) == 128
        assert ps.get("dnn.layers", 1) == 4
        assert ps.dnnn | 5 == 5  # a read with a default: hyperparameter's, no error
        with pytest.raises(UnknownKeyError, match=r"Did you mean 'dnn'"):
            _ = ps.dnnn + 1  # the missing key used as a value


def test_scope_string_values_are_typed_when_read() -> None:
    with param_scope("a.b=1", "a.c=[1, 2]", "a.d=relu") as ps:
        assert ps.a.b == 1
        assert ps.a.c == [1, 2]
        assert ps.a.d == "relu"


def test_bad_scope_string_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"Scope value 'layers' is not 'key=value'"):
        param_scope("layers")


def test_threads_see_the_base_config_not_another_threads_scope() -> None:
    hypertuner.parse(["+dnn.layers=6"])
    inside = threading.Event()
    release = threading.Event()
    seen: list[int] = []

    def other() -> None:
        inside.wait(5)
        seen.append(dnn()[0])
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    with param_scope("dnn.layers=99"):
        inside.set()
        release.wait(5)
    thread.join()
    assert seen == [6]


def test_asyncio_tasks_inherit_their_parents_scope_and_stay_isolated() -> None:
    async def child(expected_layers: int) -> int:
        await asyncio.sleep(0)
        return dnn()[0]

    async def scoped(layers: int) -> tuple[int, int]:
        with param_scope(**{"dnn.layers": layers}):
            await asyncio.sleep(0.01)
            inner = await asyncio.create_task(child(layers))
            return dnn()[0], inner

    async def main() -> list[tuple[int, int]]:
        return list(await asyncio.gather(scoped(1), scoped(2)))

    assert asyncio.run(main()) == [(1, 1), (2, 2)]


def test_carry_runs_a_function_in_another_thread_with_the_current_scope() -> None:
    results: list[int] = []
    with param_scope("dnn.layers=12"):
        thread = threading.Thread(target=carry(lambda: results.append(dnn()[0])))
    thread.start()
    thread.join()
    assert results == [12]


@pytest.mark.slow
def test_carry_reaches_spawned_process_pool_and_dataloader_workers(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the DataLoader case needs torch")
    script = write(
        tmp_path / "workers.py",
        """
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import torch
from torch.utils.data import DataLoader, Dataset

from hypertuner import auto_param, carry, param_scope


@auto_param
def width(size=1):
    return size


def job(_):
    return width()


class Widths(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, index):
        return torch.tensor(width())


if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    with param_scope("width.size=7"):
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            print("submit", pool.submit(carry(job), 0).result())
        with ProcessPoolExecutor(1, mp_context=ctx, initializer=carry()) as pool:
            print("initializer", pool.submit(job, 0).result())
        loader = DataLoader(
            Widths(), num_workers=1, multiprocessing_context=ctx, worker_init_fn=carry()
        )
        print("dataloader", [int(b) for b in loader])
""",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["submit 7", "initializer 7", "dataloader [7, 7]"]


def test_parse_feeds_auto_param_with_all_three_layers() -> None:
    write("c.json", '{"dnn": {"layers": 5, "activation": "tanh"}}')
    hypertuner.parse(["--config=c.json", "dnn.activation=gelu"])
    assert dnn() == (5, "gelu")
    with param_scope("dnn.layers=1"):
        assert dnn() == (1, "gelu")
    assert dnn(layers=2) == (2, "gelu")


def test_unread_config_and_undeclared_scope_keys_are_reported_at_run_end(storage: Path) -> None:
    write("c.json", '{"dnn": {"layers": 5}, "optim": {"lrr": 0.1}}')
    args = hypertuner.parse(["--config=c.json", "--name=typos", "+optim.lr=0.2"])
    assert args.optim.lr == 0.2
    dnn()
    with param_scope("dnn.layerz=3"):
        dnn()
    run = hypertuner.current_run()
    with pytest.warns(HypertunerWarning) as caught:
        run.finish()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "config keys never read: optim.lrr (did you mean optim.lr?)" in message
    assert "scope keys no @auto_param declares: dnn.layerz" in message
    meta = json.loads((storage / "typos" / "meta.json").read_text())
    assert meta["unread_keys"] == ["optim.lrr"]
    assert meta["undeclared_scope_keys"] == ["dnn.layerz"]


def test_unread_keys_are_not_warned_of_after_a_failure_or_in_a_recalled_session(
    storage: Path,
) -> None:
    """After a crash, the crash is the news; a recalled session (a resume or an evaluation
    script) need not read every key. Both still record them in meta.json."""
    import warnings

    write("c.json", '{"lr": 0.1, "steps": 3}')
    hypertuner.parse(["--config=c.json", "--name=quiet"])
    run = hypertuner.current_run()
    with warnings.catch_warnings():
        warnings.simplefilter("error", HypertunerWarning)
        run.finish("failed", error="boom")
        hypertuner.parse(["--name=quiet"])  # recalled: reads nothing
        hypertuner.current_run().finish()
    meta = json.loads((storage / "quiet" / "meta.json").read_text())
    assert meta["unread_keys"] == ["lr", "steps"]


def test_no_report_when_every_key_is_read(storage: Path) -> None:
    write("c.json", '{"dnn": {"layers": 5}, "lr": 0.1}')
    args = hypertuner.parse(["--config=c.json"])
    assert args.lr == 0.1
    dnn()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hypertuner.current_run().finish()


def test_a_value_replaces_a_section_and_a_section_replaces_a_value() -> None:
    with param_scope(model={"layers": 2, "width": 8}):
        with param_scope(model="tiny") as ps:
            assert ps.model == "tiny"
            with param_scope("model.layers=3") as inner:
                assert inner.model.to_dict() == {"layers": 3}
        with param_scope("model.width=16") as ps:
            assert ps.model.to_dict() == {"layers": 2, "width": 16}


# ---------------------------------------------------------------------------------------------
# hyperparameter 0.5.12's reads and writes (tests/compat compares them with the original)


def test_or_reads_the_value_with_a_default_never_a_bitwise_or() -> None:
    with param_scope(n=2, flag=False, zero=0) as ps:
        assert [ps.n | 1, ps.flag | True, ps.zero | 5, ps.missing | 123] == [2, False, 0, 123]
        assert [ps.n(1), ps.n(), ps.missing(), param_scope.n | 1] == [2, 2, None, 2]


@pytest.mark.parametrize(
    ("value", "default", "result"),
    [
        pytest.param("not int", 1, "not int", id="text-for-int"),
        pytest.param("x", 1.0, "x", id="text-for-float"),
        pytest.param("1.12", False, False, id="no-bool-word"),
        pytest.param(3.5, 1, 3, id="fraction-for-int"),
    ],
)
def test_a_read_that_cannot_convert_warns(value: object, default: object, result: object) -> None:
    """hyperparameter gives these results silently; hypertuner gives them with a warning."""
    with param_scope(v=value) as ps, pytest.warns(HypertunerWarning, match=r"Scope key 'v'"):
        assert ps.v | default == result


def test_an_accessor_compares_and_computes_like_its_value() -> None:
    with param_scope(lr=0.1, layers=4, sizes=[8, 16], model={"act": "relu"}) as ps:
        assert ps.lr * 2 == 0.2
        assert 1 + ps.layers == 5
        assert f"{ps.lr:.2f}" == "0.10"
        assert int(ps.layers) == 4
        assert list(range(ps.layers)) == [0, 1, 2, 3]
        assert [ps.sizes[0], len(ps.sizes), 16 in ps.sizes] == [8, 2, True]
        assert ps.model.to_dict() == {"act": "relu"}
        assert ps.model == {"act": "relu"}
        assert repr(ps.lr) == "0.1"
        assert pickle.loads(pickle.dumps(ps.layers)) == 4


def test_text_reads_as_stored_and_compares_typed() -> None:
    """``"a=1"`` reads back as the text ``'1'`` (hyperparameter), compares as 1, and
    ``"flag=false"`` is false (hyperparameter would call the text ``'false'`` true)."""
    with param_scope("a=1", "flag=false") as ps:
        assert (ps.a(), ps["a"], ps.a | 0, ps.a == 1) == ("1", "1", 1, True)
        assert not ps.flag
        assert ps.flag | True is False


def test_a_missing_key_used_as_a_value_names_the_nearest_key() -> None:
    with param_scope(**{"dnn.layers": 4}) as ps:
        assert not ps.dnn.layerz
        with pytest.raises(UnknownKeyError, match=r"Unknown key 'dnn.layerz'. Did you mean"):
            _ = ps.dnn.layerz == 4


def test_writes_are_scoped_restored_and_thread_local() -> None:
    seen: list[int] = []
    with param_scope() as ps:
        ps.foo.x = 2
        param_scope.bar = {"y": 3}
        thread = threading.Thread(target=lambda: seen.append(param_scope.foo.x | 0))
        thread.start()
        thread.join()
        assert [ps.foo.x(), param_scope.bar.y | 0, dict(ps)] == [2, 3, {"foo.x": 2, "bar.y": 3}]
    assert [param_scope.foo.x | 0, param_scope.bar.y | 0, seen] == [0, 0, [0]]


def test_auto_param_sees_writes_into_the_current_scope() -> None:
    with param_scope("dnn.layers=4"):
        assert dnn()[0] == 4
        param_scope.dnn.layers = 6
        assert dnn()[0] == 6
    assert dnn()[0] == 3


def _in_a_fresh_context(fn: Callable[[], object]) -> object:
    """Run ``fn`` in an empty context: its writes outside any scope vanish with it."""
    return contextvars.Context().run(fn)


def test_a_write_outside_any_scope_stays_over_a_new_base() -> None:
    def body() -> list[object]:
        param_scope.top = 1
        hypertuner.parse(["+lr=0.1"])
        return [param_scope.top | 0, param_scope.lr | 0.0, dnn()[0]]

    assert _in_a_fresh_context(body) == [1, 0.1, 3]


def test_frozen_gives_new_threads_a_base_and_keeps_this_threads() -> None:
    def body() -> dict[str, object]:
        with param_scope(**{"dnn.layers": 7}):
            param_scope.frozen()
        seen: dict[str, object] = {"here": dnn()[0]}
        thread = threading.Thread(target=lambda: seen.update(thread=dnn()[0]))
        thread.start()
        thread.join()
        return seen

    assert _in_a_fresh_context(body) == {"here": 3, "thread": 7}
