"""The public surface: a sorted __all__ of documented names, loaded lazily, and errors that are
also builtins with their facts declared."""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys

import pytest

import hypertuner
from hypertuner import errors


def _public(names: list[str]) -> set[str]:
    return {
        name
        for name in names
        if not name.startswith("_")
        and name != "annotations"
        and not inspect.ismodule(getattr(hypertuner, name))
    }


def test_all_is_sorted_and_lists_exactly_the_public_names() -> None:
    assert hypertuner.__all__ == sorted(hypertuner.__all__)
    assert set(hypertuner.__all__) == _public(dir(hypertuner))


def test_a_fresh_interpreter_sees_every_public_name_in_dir_before_any_is_loaded() -> None:
    code = "import json, hypertuner; print(json.dumps(dir(hypertuner)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    shown = set(json.loads(done.stdout))
    assert set(hypertuner.__all__) <= shown


@pytest.mark.parametrize("name", hypertuner.__all__)
def test_every_public_name_loads_and_has_a_docstring_with_an_example(name: str) -> None:
    doc = inspect.getdoc(getattr(hypertuner, name)) or ""
    assert doc, name
    assert "Example" in doc, name


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'nope'"):
        _ = hypertuner.nope  # type: ignore[attr-defined]


def test_every_error_is_a_hypertuner_error_and_a_builtin() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if not isinstance(value, type) or name == "HypertunerWarning":
            continue
        assert issubclass(value, errors.HypertunerError), name
        if value is not errors.HypertunerError:
            builtins = [
                b
                for b in value.__mro__
                if b.__module__ == "builtins" and b not in (object, BaseException, Exception)
            ]
            assert builtins, name
    assert issubclass(errors.HypertunerWarning, UserWarning)


def test_every_error_declares_its_facts_in_its_signature() -> None:
    """Facts are keyword parameters of __init__, never a **facts catch-all."""
    for name in errors.__all__:
        value = getattr(errors, name)
        if not isinstance(value, type) or not issubclass(value, errors.HypertunerError):
            continue
        parameters = inspect.signature(value.__init__).parameters.values()
        assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters), name


def test_an_error_keeps_its_message_and_facts_through_pickle() -> None:
    error = errors.UnknownKeyError.for_key("optim.lrr", ["optim.lr"], path="cfg.json", line=3)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.key, copy.suggestions, copy.path, copy.line) == (
        str(error),
        "optim.lrr",
        ["optim.lr"],
        "cfg.json",
        3,
    )
    assert isinstance(copy, KeyError)


def test_version_is_a_string() -> None:
    assert isinstance(hypertuner.__version__, str)
