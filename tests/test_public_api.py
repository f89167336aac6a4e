"""The public surface: a sorted __all__ of documented names, and errors that are also builtins."""

from __future__ import annotations

import inspect

import hypertuner
from hypertuner import errors


def test_all_is_sorted_and_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(hypertuner).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert hypertuner.__all__ == sorted(hypertuner.__all__)
    assert set(hypertuner.__all__) == public


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    for name in hypertuner.__all__:
        doc = inspect.getdoc(getattr(hypertuner, name)) or ""
        assert doc, name
        assert "Example" in doc, name


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


def test_version_is_a_string() -> None:
    assert isinstance(hypertuner.__version__, str)
