"""hypertuner's param_scope and auto_param against the original ``hyperparameter`` 0.5.12.

Each snippet runs under hyperparameter 0.5.12 (its default backend, the compiled Rust one that
``pip install hyperparameter==0.5.12`` gives and that its own CI tests) and under hypertuner with
the import line changed; the results must be the same. Where the two backends of 0.5.12 differ,
the test says which one it follows and why. Where 0.5.12 breaks an example of its own README
(or of the older README in the seeds), the test shows the breakage and asserts hypertuner's
better behaviour instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat._differential import (
    HYPERPARAMETER,
    assert_same,
    run_hypertuner,
    run_original,
)

pytestmark = pytest.mark.slow  # each case runs the original in .venv-compat too

# 0.5.12's pure-Python backend: the reference where the Rust backend fails outright.
PYTHON_BACKEND = {"HYPERPARAMETER_BACKEND": "PYTHON"}


def both(source: str, tmp_path: Path, **env: str) -> tuple[object, object]:
    """The snippet's result under 0.5.12 and under hypertuner (no comparison)."""
    original = run_original(source, HYPERPARAMETER, tmp_path / "original", env=env)
    ours = run_hypertuner(
        source, HYPERPARAMETER, tmp_path / "hypertuner", storage=tmp_path / "storage"
    )
    return original, ours


# ---------------------------------------------------------------------------------------------
# The README of 0.5.12


def test_readme_quick_start_auto_param_name_is_the_key_prefix(tmp_path: Path) -> None:
    """``@auto_param("foo") def foo(x=1)`` reads ``foo.x``, not ``foo.foo.x``."""
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param("foo")
        def foo(x=1, y="a"):
            return f"x={x}, y={y}"

        out = [foo()]
        with param_scope(**{"foo.x": 2}):
            out.append(foo())
        out.append(foo())
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_readme_default_value_through_the_class(tmp_path: Path) -> None:
    """``param_scope.foo.x | "default value"`` reads the current scope, or gives the default."""
    assert_same(
        """
        from hyperparameter import param_scope

        out = {"outside": param_scope.foo.x | "default value"}
        with param_scope(**{"foo.x": "set"}):
            out["inside"] = param_scope.foo.x | "default value"
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_readme_scope_control_writes_land_in_the_current_scope(tmp_path: Path) -> None:
    """The README's scope-control block, with what each point of it sees.

    The block writes ``ps.foo.y`` through the *outer* handle while the inner scope is active.
    The default (Rust) backend puts the value in the current, innermost scope, gone when it ends;
    0.5.12's Python backend puts it in the outer one. The default backend is the reference.
    """
    assert_same(
        """
        from hyperparameter import param_scope

        out = {}
        with param_scope() as ps:  # 1st scope start
            ps.foo.x = 1
            with param_scope() as ps2:  # 2nd scope start
                ps.foo.y = 2
                out["inner: foo.x"] = ps2.foo.x | 0
                out["inner: foo.y"] = ps2.foo.y | 0
            # 2nd scope end
            out["outer: foo.x"] = ps.foo.x | 0
            out["outer: foo.y"] = ps.foo.y | 0
        # 1st scope end
        out["after: foo.x"] = param_scope.foo.x | 0
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_readme_thread_isolation(tmp_path: Path) -> None:
    """A value written in the main thread's scope is not seen by a new thread."""
    assert_same(
        """
        import threading
        from hyperparameter import auto_param, param_scope

        seen = {}

        @auto_param("foo")
        def foo(x=1):
            seen[threading.current_thread().name] = x

        with param_scope() as ps:
            ps.foo.x = 2
            foo()
            thread = threading.Thread(target=foo, name="other")
            thread.start()
            thread.join()
        emit(seen)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_readme_command_line_defines_are_typed_by_the_defaults(tmp_path: Path) -> None:
    """``param_scope(*args.define)`` with ``-D example.a=5``: text takes the default's type."""
    assert_same(
        """
        import argparse
        from hyperparameter import param_scope, auto_param

        @auto_param("example")
        def main(a=0, b=1):
            return [a, b]

        parser = argparse.ArgumentParser()
        parser.add_argument("-D", "--define", nargs="*", default=[], action="extend")
        args = parser.parse_args(["-D", "example.a=5", "-D", "example.b=2.5"])
        with param_scope(*args.define):
            emit(main())
        """,
        HYPERPARAMETER,
        tmp_path,
    )


# ---------------------------------------------------------------------------------------------
# The README in the seeds (hyperparameter 0.3.0's): what 0.5.12 broke, hypertuner keeps


def test_seed_nested_scope_attribute_equals_its_value_unlike_0_5_12(tmp_path: Path) -> None:
    """``ps2.a == 2`` is True in the seed's README; 0.5.12 returns an accessor, never equal."""
    original, ours = both(
        """
        from hyperparameter import param_scope

        with param_scope(a=1) as ps:
            with param_scope(a=2) as ps2:
                inner = ps2.a == 2
            outer = ps.a == 1
        emit([inner, outer])
        """,
        tmp_path,
    )
    assert original == [False, False]  # upstream breaks its older README here
    assert ours == [True, True]


def test_seed_quick_start_auto_param_with_empty_parentheses_unlike_0_5_12(tmp_path: Path) -> None:
    """``@auto_param()`` (the seed's quick start) is a TypeError in 0.5.12; hypertuner takes it."""
    original, ours = both(
        """
        from hyperparameter import auto_param, param_scope

        try:
            @auto_param()
            def dnn(input=None, layers=3, activation="relu"):
                return [layers, activation]
        except TypeError:
            emit("TypeError")
        else:
            out = [dnn()]
            with param_scope("dnn.layers=4", "dnn.activation=sigmoid"):
                out.append(dnn())
            emit(out)
        """,
        tmp_path,
    )
    assert original == "TypeError"  # 0.5.12: auto_param() missing 1 required positional argument
    assert ours == [[3, "relu"], [4, "sigmoid"]]


def test_seed_inference_backend_reads_the_function_prefixed_key(tmp_path: Path) -> None:
    """``param_scope(backend="onnx")`` does not reach ``inference.backend``: it stays ``"tvm"``."""
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param
        def inference(x, backend="tvm"):
            return backend

        with param_scope(backend="onnx"):
            plain = inference(1)
        with param_scope(**{"inference.backend": "onnx"}):
            prefixed = inference(1)
        emit([plain, prefixed])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_seed_config_file_as_nested_dict(tmp_path: Path) -> None:
    """``param_scope(**cfg)`` with a nested dict (a loaded YAML file) feeds ``dnn.layers``."""
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param
        def dnn(input=None, layers=3, activation="relu"):
            return [layers, activation]

        cfg = {"dnn": {"layers": 4, "activation": "sigmoid"}}
        with param_scope(**cfg):
            emit(dnn())
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_seed_three_layer_configuration(tmp_path: Path) -> None:
    """Inline defaults < config file scope < command-line scope, the seed README's layers."""
    assert_same(
        """
        from hyperparameter import param_scope, auto_param

        @auto_param
        def main(a=0, b=1, c=2):
            return [a, b, c]

        cfg = {"main": {"a": 10, "b": 11}}
        define = ["main.b=7"]
        with param_scope(**cfg):
            with param_scope(*define):
                emit(main())
        """,
        HYPERPARAMETER,
        tmp_path,
    )


# ---------------------------------------------------------------------------------------------
# auto_param


def test_auto_param_name_is_the_full_prefix(tmp_path: Path) -> None:
    """``@auto_param("myns.foo.params") def foo(b=2)`` reads ``myns.foo.params.b`` (docstring)."""
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param("myns.foo.params")
        def foo(a, b=2, c="c", d=None):
            return [a, b, c, d]

        out = [foo(1)]
        with param_scope("myns.foo.params.b=3"):
            out.append(foo(2))
        with param_scope("myns.foo.params.b=3"):
            param_scope.myns.foo.params.b = 4
            out.append(foo(2))
        with param_scope(**{"myns.foo.b": 5, "foo.b": 6}):
            out.append(foo(3))
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_bare_auto_param_uses_the_function_name(tmp_path: Path) -> None:
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param
        def foo(a, b=2, c="c", d=None):
            return [a, b, c, d]

        out = [foo(1)]
        with param_scope("foo.b=3"):
            out.append(foo(2))
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_auto_param_reads_the_scope_at_each_call(tmp_path: Path) -> None:
    """0.5.12's own ``test_auto_param_func2``: writes between calls are seen, and undone at exit."""
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param("foo")
        def foo(a, b=1, c=2.0, d=False, e="str"):
            return [a, b, c, d, e]

        out = []
        with param_scope():
            param_scope.foo.b = 2
            out.append(foo(1))
            param_scope.foo.c = 3.0
            out.append(foo(1))
        out.append(foo(1))
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_auto_param_converts_text_to_the_default_type(tmp_path: Path) -> None:
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param("f")
        def f(i=1, x=1.0, flag=False, on=True, s="s", n=None):
            return [i, x, flag, on, s, n]

        with param_scope("f.i=4", "f.x=2.5", "f.flag=yes", "f.on=off", "f.s=7", "f.n=8"):
            emit(f())
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_auto_param_keyword_argument_beats_the_scope(tmp_path: Path) -> None:
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param("f")
        def f(a, b=1, c=2):
            return [a, b, c]

        with param_scope(**{"f.b": 10, "f.c": 20}):
            emit([f(0), f(0, c=6), f(a=0, b=7, c=8)])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_auto_param_positional_argument_beats_the_scope_unlike_0_5_12(tmp_path: Path) -> None:
    """0.5.12 also passes the scope's ``f.b`` as a keyword when ``b`` is given by position:
    ``f(0, 5)`` is a TypeError (multiple values for argument 'b') there."""
    original, ours = both(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param("f")
        def f(a, b=1, c=2):
            return [a, b, c]

        with param_scope(**{"f.b": 10, "f.c": 20}):
            try:
                emit(f(0, 5))
            except TypeError:
                emit("TypeError")
        """,
        tmp_path,
    )
    assert original == "TypeError"
    assert ours == [0, 5, 20]


def test_auto_param_on_a_class_reads_the_class_name_prefix(tmp_path: Path) -> None:
    """Bare ``@auto_param`` on a class reads ``<ClassName>.<arg>`` for its ``__init__``."""
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param
        class Model:
            def __init__(self, a, b=2, c="c", d=None):
                self.values = [a, b, c, d]

        out = [Model(1).values]
        with param_scope("Model.b=3", "Model.d=x"):
            out.append(Model(2).values)
        with param_scope("model.b=4"):
            out.append(Model(3).values)
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_auto_param_on_a_class_with_a_name_uses_it_as_the_prefix(tmp_path: Path) -> None:
    assert_same(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param("ns.model")
        class Model:
            def __init__(self, b=2):
                self.b = b

        out = [Model().b]
        with param_scope("ns.model.b=5"):
            out.append(Model().b)
        with param_scope("ns.model.Model.b=6", "ns.Model.b=7"):
            out.append(Model().b)
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_auto_param_class_stays_a_class_unlike_0_5_12(tmp_path: Path) -> None:
    """0.5.12 replaces a decorated class by a function: ``isinstance`` and subclassing break."""
    original, ours = both(
        """
        from hyperparameter import auto_param

        @auto_param
        class Model:
            def __init__(self, b=2):
                self.b = b

        try:
            same = isinstance(Model(), Model)
        except TypeError:
            same = "TypeError"
        emit([type(Model).__name__, same])
        """,
        tmp_path,
    )
    assert original == ["function", "TypeError"]
    assert ours == ["type", True]


# ---------------------------------------------------------------------------------------------
# Reading with a default


def test_or_gives_the_value_never_a_bitwise_or(tmp_path: Path) -> None:
    """``ps.n | 1`` is 2 for ``n=2`` (not 3), and ``ps.flag | True`` is False for ``flag=False``."""
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope(n=2, flag=False, zero=0) as ps:
            emit([ps.n | 1, ps.flag | True, ps.zero | 5, ps.missing | 123])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_call_reads_with_a_default_or_none(tmp_path: Path) -> None:
    """``ps.x(default)``, ``ps.x()`` (None when missing) and ``ps().x.y(default)``."""
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope(**{"x": 1, "a.b": "v"}) as ps:
            emit([ps.x(5), ps.x(), ps.missing(), ps.missing(7), ps().a.b("d"), ps().a.c("d")])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_dotted_reads_of_nested_keys(tmp_path: Path) -> None:
    """``ps.a.b.c()`` reads the dotted key ``a.b.c``; a section itself reads as missing."""
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope(**{"a.b.c": [1, 2]}) as ps:
            emit([ps.a.b.c(), ps.a.b.c | [0], ps.a.b("missing"), ps.a | "missing"])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_class_reads_the_current_scope_inside_a_with(tmp_path: Path) -> None:
    """``param_scope.x(2)`` and ``param_scope.y | 2`` (its docstring), and outside any scope."""
    assert_same(
        """
        from hyperparameter import param_scope

        out = {"outside": [param_scope.x(2), param_scope.x | 2, param_scope.a.b.c(1)]}
        with param_scope(x=1):
            out["inside"] = [param_scope.x(2), param_scope.y(2), param_scope.y | 2]
            with param_scope(x=3):
                out["nested"] = [param_scope.x(2), param_scope().x(2)]
            out["back"] = param_scope.x | 2
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_read_converts_to_the_default_type(tmp_path: Path) -> None:
    """The conversions 0.5.12 makes: numbers from text, bool words, str() for a str default."""
    assert_same(
        """
        from hyperparameter import param_scope

        values = {
            "i": "4", "f": "4.0", "frac": "2.5", "num": 3, "pi": 3.5,
            "t1": "true", "t2": "YES", "t3": "on", "t4": "1", "t5": "t", "t6": "y",
            "f1": "false", "f2": "No", "f3": "off", "f4": "0", "f5": "f", "f6": "n",
            "one": 1, "zero": 0, "truth": True, "lst": [1, 2],
        }
        with param_scope(**values) as ps:
            emit({
                "'4' | 1": ps.i | 1,
                "'4.0' | 1": ps.f | 1,
                "'2.5' | 1": ps.frac | 1,
                "'4' | 1.0": ps.i | 1.0,
                "3 | 1.0": ps.num | 1.0,
                "3.5 | 1": ps.pi | 1,
                "3 | 's'": ps.num | "s",
                "True | 's'": ps.truth | "s",
                "'4' | None": ps.i | None,
                "true words | False": [ps.t1 | False, ps.t2 | False, ps.t3 | False,
                                       ps.t4 | False, ps.t5 | False, ps.t6 | False],
                "false words | True": [ps.f1 | True, ps.f2 | True, ps.f3 | True,
                                       ps.f4 | True, ps.f5 | True, ps.f6 | True],
                "1 | False": ps.one | False,
                "0 | True": ps.zero | True,
                "[1, 2] | [0]": ps.lst | [0],
                "'4' (call)": ps.i(1),
            })
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_unconvertible_values_as_0_5_12_tests_them(tmp_path: Path) -> None:
    """0.5.12's own ``TestParamScopeGetOrElse``: text that is no number comes back unchanged,
    text that is no bool word gives the default, and ``False | 1`` is 0."""
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope(a=1, b="1", c="1.12", d="not int", e=False) as ps:
            emit({
                "int": [ps.a | 0, ps.b | 1, ps.c | 1, ps.d | 1, ps.e | 1],
                "float": [ps.a | 0.0, ps.b | 1.0, ps.c | 1.0, ps.d | 1.0, ps.e | 1.0],
                "str": [ps.a | "0", ps.b | "1", ps.c | "1", ps.d | "1", ps.e | "1"],
                "bool": [ps.a | False, ps.b | False, ps.c | False, ps.d | False, ps.e | False],
            })
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_text_assignments_stay_text_until_read_with_a_default(tmp_path: Path) -> None:
    """``param_scope("a=1")`` holds the text ``"1"``; keyword values keep their Python type.

    A ``"key=value"`` string splits at the first ``=``.
    """
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope("a=1", "b=x=y", "c=", k=1.5, t=True) as ps:
            emit([ps.a(), ps.a | 0, ps.b(), ps.c(), ps.k(), ps.t()])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_a_string_without_equals_is_an_error_unlike_0_5_12(tmp_path: Path) -> None:
    """0.5.12 silently ignores ``param_scope("noequals")`` (a ``-D layers`` typo on the command
    line would do nothing); hypertuner refuses it, naming the string."""
    original, ours = both(
        """
        from hyperparameter import param_scope

        try:
            with param_scope("a=1", "noequals") as ps:
                emit(["ignored", ps.noequals | "absent", ps.a | 0])
        except ValueError as exc:
            emit(["ValueError", str(exc)])
        """,
        tmp_path,
    )
    assert original == ["ignored", "absent", 1]
    assert ours[0] == "ValueError"
    assert "'noequals' is not 'key=value'" in ours[1]


def test_missing_and_present_values_as_truth_values(tmp_path: Path) -> None:
    """0.5.12's own ``TestParamScopeBool``: ``bool(ps.x)`` is the value's truth; missing: False."""
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope(a=True, b=0, c="false") as ps:
            emit([bool(ps.a), bool(ps.b), bool(ps.c), bool(ps.missing)])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_keys_keep_their_case(tmp_path: Path) -> None:
    assert_same(
        """
        from hyperparameter import param_scope

        ps = param_scope(**{"a.b.c": 1, "A.B.C": 2})
        emit([ps.a.b.c | 0, ps.A.B.C | 0])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_a_scope_reads_before_it_is_entered(tmp_path: Path) -> None:
    """0.5.12's own create tests: ``param_scope(a=1).a | 0`` without ``with``; nothing leaks."""
    assert_same(
        """
        from hyperparameter import param_scope

        ps = param_scope(a=1, b=2)
        long = param_scope("a.b.c=1")
        emit([ps.a | 0, ps.b | 0, long.a.b.c | 0, param_scope.a | 0])
        """,
        HYPERPARAMETER,
        tmp_path,
    )


# ---------------------------------------------------------------------------------------------
# Writing


def test_writes_through_the_handle_are_scoped(tmp_path: Path) -> None:
    """``ps.foo.x = 2`` and ``ps["bar.y"] = 3`` inside a with: seen there, gone after it."""
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope() as ps:
            ps.foo.x = 2
            ps["bar.y"] = 3
            inside = [ps.foo.x(), ps["foo.x"], ps.bar.y | 0, param_scope.bar.y | 0]
        emit({"inside": inside, "after": [param_scope.foo.x | 0, param_scope.bar.y | 0]})
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_class_writes_are_scoped_and_restored(tmp_path: Path) -> None:
    """``param_scope.z = 3`` inside a with (its docstring), nested, and after the scopes end."""
    assert_same(
        """
        from hyperparameter import param_scope

        out = {}
        with param_scope(x=1):
            param_scope.z = 3
            out["set"] = param_scope.z | 0
            with param_scope():
                out["inherited"] = param_scope.z | 0
                param_scope.z = 4
                param_scope.w = 5
                out["inner"] = [param_scope.z | 0, param_scope.w | 0]
            out["restored"] = [param_scope.z | 0, param_scope.w | 0]
        out["after"] = [param_scope.z | 0, param_scope.x | 0]
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_writes_through_the_handle_of_a_new_scope(tmp_path: Path) -> None:
    """0.5.12's own ``test_param_scope_direct_write``: a handle not entered keeps its writes."""
    assert_same(
        """
        from hyperparameter import param_scope

        out = {}
        with param_scope():
            param_scope.a = 1
            param_scope().b = 2
            out["class"] = [param_scope.a(), param_scope.b()]
            ps = param_scope()
            ps.b = 2
            out["handle"] = ps.b()
            with ps:
                out["entered"] = param_scope.b()
        out["leak"] = [param_scope.a(), param_scope.b()]
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_a_write_outside_any_scope_stays_in_its_thread(tmp_path: Path) -> None:
    """``param_scope.top.x = 1`` at the top level: seen later in this thread, not in others."""
    assert_same(
        """
        import threading
        from hyperparameter import param_scope

        param_scope.top.x = 1
        seen = {"main": param_scope.top.x | 0}
        with param_scope() as ps:
            seen["nested"] = ps.top.x | 0
        thread = threading.Thread(target=lambda: seen.update(thread=param_scope.top.x | 0))
        thread.start()
        thread.join()
        emit(seen)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


# ---------------------------------------------------------------------------------------------
# Nesting, threads, empty, current, frozen


def test_nested_scopes_restore_on_exit(tmp_path: Path) -> None:
    """0.5.12's own ``test_nested_param_scope``, and a scope left by an exception."""
    assert_same(
        """
        from hyperparameter import param_scope

        out = []
        with param_scope() as ps1:
            out.append(ps1.a | "empty")
            with param_scope(a="non-empty") as ps2:
                out.append(ps2.a | "empty")
                with param_scope() as ps3:
                    with param_scope() as ps4:
                        out.append(ps2.a | "empty")
                        ps4.b = 42
                    out.append(ps3.b())
            out.append(ps1.a | "empty")
        out.append(param_scope.a | "empty")
        try:
            with param_scope(a=1):
                raise RuntimeError
        except RuntimeError:
            pass
        out.append(param_scope.a | "empty")
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_a_scope_takes_the_values_around_it_when_entered(tmp_path: Path) -> None:
    """A scope made outside a with and entered inside it sees that with's values; one made
    inside and entered later does not. This is the default (Rust) backend's rule; 0.5.12's
    Python backend copies the values at creation instead."""
    assert_same(
        """
        from hyperparameter import param_scope

        out = {}
        made_outside = param_scope()
        with param_scope(a=1):
            with made_outside:
                out["made outside, entered inside"] = param_scope.a | 0
            made_inside = param_scope(b=2)
        with made_inside:
            out["made inside, entered outside"] = [param_scope.a | 0, param_scope.b | 0]
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_a_new_thread_starts_from_the_base_not_the_callers_scope(tmp_path: Path) -> None:
    """0.5.12's own ``test_new_thread``: a thread started inside a scope does not see it."""
    assert_same(
        """
        import threading
        from hyperparameter import param_scope

        seen = {}

        def work():
            with param_scope() as ps:
                seen["a.b"] = ps.a.b()
                seen["x"] = param_scope.x | 0

        with param_scope(**{"a.b": 1, "x": 2}):
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
        emit(seen)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_threads_do_not_see_each_others_writes(tmp_path: Path) -> None:
    assert_same(
        """
        import threading
        from hyperparameter import param_scope

        seen = {}
        ready = threading.Barrier(2)

        def work(name, value):
            with param_scope() as ps:
                ps.shared = value
                ready.wait()
                seen[name] = param_scope.shared | 0

        threads = [threading.Thread(target=work, args=(n, v)) for n, v in (("a", 1), ("b", 2))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        emit(seen)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_frozen_makes_the_current_values_the_base_of_new_threads(tmp_path: Path) -> None:
    """0.5.12's own ``test_frozen_propagates``, plus what the freezing thread sees afterwards."""
    assert_same(
        """
        import threading
        from hyperparameter import auto_param, param_scope

        @auto_param("f")
        def f(x=1):
            return x

        seen = {}

        def look(name):
            seen[name] = [param_scope.A.B(), f()]

        with param_scope(**{"f.x": 7}):
            param_scope.A.B = 1
            param_scope.frozen()
            seen["in scope"] = [param_scope.A.B(), f()]
        seen["main after"] = [param_scope.A.B(), f()]
        thread = threading.Thread(target=look, args=("new thread",))
        thread.start()
        thread.join()
        emit(seen)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_frozen_replaces_the_base_of_new_threads(tmp_path: Path) -> None:
    """A second ``frozen()`` replaces the first one's values: new threads see only the values
    current at the last call. This is the default (Rust) backend's rule; 0.5.12's Python backend
    adds each call's values to the ones frozen before."""
    assert_same(
        """
        import threading
        from hyperparameter import param_scope

        with param_scope(x=1):
            param_scope.frozen()
        with param_scope(y=2):
            param_scope.frozen()
        seen = {}
        thread = threading.Thread(
            target=lambda: seen.update(values=[param_scope.x | 0, param_scope.y | 0])
        )
        thread.start()
        thread.join()
        emit(seen)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_empty_scope_hides_the_outer_values(tmp_path: Path) -> None:
    """``param_scope.empty()`` (its docstring): no outer value is seen inside it."""
    assert_same(
        """
        from hyperparameter import param_scope

        out = []
        with param_scope(a="not empty") as ps:
            out.append(param_scope.a("empty"))
            with param_scope.empty() as ps2:
                out.append(param_scope.a("empty"))
                out.append(sorted(ps2.keys()))
            with param_scope.empty(b=2, **{"c.d": 3}) as ps3:
                out.append([ps3.a | "empty", ps3.b | 0, ps3.c.d | 0])
            out.append(param_scope.a("empty"))
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_current_reads_and_writes_the_innermost_scope(tmp_path: Path) -> None:
    """``param_scope.current()`` (its docstring)."""
    assert_same(
        """
        from hyperparameter import param_scope

        out = []
        with param_scope(a=1) as ps:
            out.append(param_scope.current().a("empty"))
        with param_scope() as ps1:
            with param_scope(a=1) as ps2:
                param_scope.current().a = 2
                out.append(param_scope.a("empty"))
            out.append(param_scope.a("empty"))
        emit(out)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


# ---------------------------------------------------------------------------------------------
# The dict-like API


def test_keys_dict_and_get(tmp_path: Path) -> None:
    """``ps.keys()``, ``dict(ps)``, ``ps.get(key)``, and ``ps.get(missing) | default``."""
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope.empty(a=1, b={"c": 2}) as ps:
            emit({
                "keys": sorted(ps.keys()),
                "dict": dict(ps),
                "get": ps.get("b.c"),
                "get missing": [bool(ps.get("zz")), ps.get("zz") | 3],
                "item": ps["a"],
            })
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_put_and_update_flatten_nested_dicts(tmp_path: Path) -> None:
    assert_same(
        """
        from hyperparameter import param_scope

        with param_scope.empty(a=1) as ps:
            ps.put("b", 2)
            ps.update({"c": {"d": 3, "e": {"f": 4}}, "a": 5})
            ps.g.h = {"i": 6}
            ps["j"] = {"k": 7}
            emit(dict(ps))
        """,
        HYPERPARAMETER,
        tmp_path,
    )


def test_clear_empties_the_scope(tmp_path: Path) -> None:
    """``ps.clear()``. The Rust backend leaves the cleared keys behind as missing values, so
    0.5.12's Python backend is the reference."""
    assert_same(
        """
        from hyperparameter import param_scope

        empty = param_scope.empty()
        empty.clear()  # 0.5.12's own test_clear_on_empty: no error
        with param_scope.empty(a=1, b=2) as ps:
            ps.clear()
            emit([dict(ps), list(ps.keys()), ps.a | 0])
        """,
        HYPERPARAMETER,
        tmp_path,
        original_env=PYTHON_BACKEND,
    )


def test_iteration_yields_key_value_pairs(tmp_path: Path) -> None:
    """``list(ps)`` gives ``(key, value)`` pairs. The Rust backend cannot iterate at all
    (AttributeError), so 0.5.12's Python backend is the reference."""
    assert_same(
        """
        from hyperparameter import param_scope

        ps = param_scope.empty(a=1, b=2)
        emit(sorted([list(item) for item in ps]))
        """,
        HYPERPARAMETER,
        tmp_path,
        original_env=PYTHON_BACKEND,
    )


def test_init_sets_a_threads_values_and_storage_lists_a_scope(tmp_path: Path) -> None:
    """``param_scope.init(params)`` (a new thread's setup) and ``ps.storage().storage()`` (the
    flat dict its docstrings print)."""
    assert_same(
        """
        import threading
        from hyperparameter import param_scope

        seen = {}

        def work():
            param_scope.init({"q": 5})
            seen["thread"] = param_scope.q | 0

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        seen["main"] = param_scope.q | 0
        with param_scope.empty(**{"p": "origin", "a.b": 1}) as ps:
            seen["storage"] = ps.storage().storage()
        emit(seen)
        """,
        HYPERPARAMETER,
        tmp_path,
    )


# ---------------------------------------------------------------------------------------------
# Where 0.5.12 gives a value silently that is likely a mistake


def test_text_an_auto_param_default_cannot_take_is_an_error_unlike_0_5_12(tmp_path: Path) -> None:
    """0.5.12 passes ``"four"`` on to an int parameter; hypertuner refuses it, naming the key."""
    original, ours = both(
        """
        from hyperparameter import auto_param, param_scope

        @auto_param("dnn")
        def dnn(layers=3):
            return layers

        try:
            with param_scope("dnn.layers=four"):
                emit(["passed", dnn()])
        except ValueError as exc:
            emit(["ValueError", str(exc)])
        """,
        tmp_path,
    )
    assert original == ["passed", "four"]
    assert ours[0] == "ValueError"
    assert "Key 'dnn.layers' is 'four', which is not a valid int" in ours[1]


def test_a_read_that_falls_back_gives_0_5_12s_value_with_a_warning(tmp_path: Path) -> None:
    """The fallbacks of 0.5.12's conversions (text that is no number comes back as text, a word
    that is no bool gives the default, a fraction is truncated): the same values, but hypertuner
    says so with a HypertunerWarning."""
    original, ours = both(
        """
        import warnings
        from hyperparameter import param_scope

        with param_scope(d="not int", c="1.12", pi=3.5) as ps:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                values = [ps.d | 1, ps.c | False, ps.pi | 1]
        emit([values, sorted({type(w.message).__name__ for w in caught})])
        """,
        tmp_path,
    )
    assert original == [["not int", False, 3], []]
    assert ours == [["not int", False, 3], ["HypertunerWarning"]]
