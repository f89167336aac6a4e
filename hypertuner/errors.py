"""Every exception and warning hypertuner raises.

Each error is a :class:`HypertunerError` and also the builtin a caller would naturally catch, and
keeps the facts (``key``, ``path``, ``line``, ``value``, ``suggestions``) as attributes, so code
and the command line can read them without parsing the message.

Example:
    >>> from hypertuner.errors import ConfigError, HypertunerError
    >>> issubclass(ConfigError, ValueError) and issubclass(ConfigError, HypertunerError)
    True
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "ConfigError",
    "ConfigFileNotFoundError",
    "DiskFullError",
    "HypertunerError",
    "HypertunerWarning",
    "LaunchError",
    "MetricError",
    "MissingDependencyError",
    "NoRunError",
    "OutsideStorageError",
    "RemoteStorageError",
    "RunInUseError",
    "RunNameError",
    "RunNotFoundError",
    "SearchSpecError",
    "UnknownKeyError",
    "nearest_hint",
    "suggest",
]


def suggest(word: str, choices: Iterable[str], *, n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``choices`` close to ``word``, best first.

    Example:
        >>> suggest("optim.lrr", ["optim.lr", "model.layers"])
        ['optim.lr']
    """
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)


def nearest_hint(word: str, names: Iterable[str], *, listing: str) -> tuple[str, list[str]]:
    """Return the sentence that points from ``word`` to ``names``, and the suggestions.

    The sentence is "Did you mean ...?" when some names are close, else it lists the first ten
    names after ``listing``; it starts with a space (or is empty when there are no names).

    Example:
        >>> nearest_hint("big-lr1", ["big-lr01", "small"], listing="Runs there")
        (" Did you mean 'big-lr01'?", ['big-lr01'])
        >>> nearest_hint("zzz", ["a", "b"], listing="Runs there")
        (" Runs there: 'a', 'b'.", [])
    """
    choices = list(names)
    close = suggest(word, choices)
    if close:
        return _did_you_mean(close), close
    if not choices:
        return "", []
    more = "..." if len(choices) > 10 else ""
    return f" {listing}: {', '.join(repr(n) for n in choices[:10])}{more}.", []


def _did_you_mean(suggestions: list[str]) -> str:
    if not suggestions:
        return ""
    if len(suggestions) == 1:
        return f" Did you mean {suggestions[0]!r}?"
    return (
        " Did you mean "
        + ", ".join(repr(s) for s in suggestions[:-1])
        + (f" or {suggestions[-1]!r}?")
    )


class HypertunerError(Exception):
    """Base class of every error hypertuner raises.

    Example:
        >>> isinstance(HypertunerError("x"), Exception)
        True
    """

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        for name, value in facts.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        return self.message


class ConfigError(HypertunerError, ValueError):
    """A config file, an override or a value is not what it should be.

    Attributes ``key``, ``path``, ``line``, ``column`` and ``value`` hold the facts (``None`` when
    they do not apply).

    Example:
        >>> str(ConfigError("Bad value.", key="lr"))
        'Bad value.'
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        value: Any = None,
        **facts: Any,
    ) -> None:
        super().__init__(
            message, key=key, path=path, line=line, column=column, value=value, **facts
        )


class UnknownKeyError(ConfigError, KeyError, AttributeError):
    """A key that no config, default or schema declares.

    It is also a ``KeyError`` (item access) and an ``AttributeError`` (attribute access, so
    ``hasattr`` keeps working). ``suggestions`` lists the nearest valid keys.

    Example:
        >>> err = UnknownKeyError.for_key("optim.lrr", ["optim.lr"])
        >>> str(err)
        "Unknown key 'optim.lrr'. Did you mean 'optim.lr'?"
        >>> err.suggestions
        ['optim.lr']
    """

    suggestions: list[str]

    @classmethod
    def for_key(
        cls,
        key: str,
        valid: Iterable[str],
        *,
        where: str = "",
        hint: str = "",
        **facts: Any,
    ) -> UnknownKeyError:
        """Build the error for ``key``, suggesting the nearest of ``valid``."""
        suggestions = suggest(key, valid)
        msg = f"Unknown key {key!r}{where}.{_did_you_mean(suggestions)}"
        if hint:
            msg += f" {hint}"
        return cls(msg, key=key, suggestions=suggestions, **facts)

    def __str__(self) -> str:
        # KeyError.__str__ would put quotes around the whole message.
        return self.message


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file that is in none of the places it was looked for (``searched``).

    Example:
        >>> err = ConfigFileNotFoundError("Config file 'a.json' not found.", path="a.json")
        >>> isinstance(err, FileNotFoundError)
        True
    """


class RunNameError(HypertunerError, ValueError):
    """A run name that is not a safe folder name (``name`` holds it).

    Example:
        >>> isinstance(RunNameError("Run name 'a/b' is not allowed."), ValueError)
        True
    """


class RunNotFoundError(HypertunerError, LookupError):
    """A run name with no folder in the storage; ``suggestions`` lists the nearest run names.

    Example:
        >>> isinstance(RunNotFoundError("No run 'x'."), LookupError)
        True
    """


class RunInUseError(HypertunerError, RuntimeError):
    """A run that exists already, or that another process is writing right now.

    Example:
        >>> isinstance(RunInUseError("Run 'x' is in use."), RuntimeError)
        True
    """


class SearchSpecError(HypertunerError, ValueError):
    """A search space, strategy or override expression that cannot be searched.

    Example:
        >>> isinstance(SearchSpecError("Empty space."), ValueError)
        True
    """


class MissingDependencyError(HypertunerError, ImportError):
    """An optional package a feature needs is not installed; ``extra`` names what to install.

    Example:
        >>> isinstance(MissingDependencyError("Needs ray."), ImportError)
        True
    """


class MetricError(HypertunerError, ValueError):
    """A metric name, value or step that cannot be logged (``key`` and ``value`` hold them).

    Example:
        >>> isinstance(MetricError("Metric 'x' is not a number."), ValueError)
        True
    """


class NoRunError(HypertunerError, RuntimeError):
    """Something that needs a running run found none (no run started, or the run has ended).

    Example:
        >>> isinstance(NoRunError("No run."), RuntimeError)
        True
    """


class CheckpointError(HypertunerError, ValueError):
    """A saved model file that is truncated, corrupt, changed since it was written, or not loadable
    with ``weights_only=True``; ``path`` names the file.

    Example:
        >>> CheckpointError("Model file 'model.pt' is corrupt.", path="model.pt").path
        'model.pt'
    """


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No saved model where one was asked for (``path`` names the place looked at).

    Example:
        >>> isinstance(CheckpointNotFoundError("No model.pt."), FileNotFoundError)
        True
    """


class RemoteStorageError(HypertunerError, OSError):
    """A remote storage URL (``url``) that cannot be listed, read or written right now.

    Example:
        >>> isinstance(RemoteStorageError("Cannot list 's3://b/runs'."), OSError)
        True
    """


class LaunchError(HypertunerError, RuntimeError):
    """A run that cannot be started again from its record (``name``, ``path`` hold the facts):
    no recorded script or interpreter, a script that no longer exists, or launching turned off.

    Example:
        >>> isinstance(LaunchError("Script 'train.py' no longer exists."), RuntimeError)
        True
    """


class HypertunerWarning(UserWarning):
    """Something worth knowing that does not stop the run.

    Example:
        >>> issubclass(HypertunerWarning, UserWarning)
        True
    """


class OutsideStorageError(HypertunerError, PermissionError):
    """A path in the storage folder whose real location, links resolved, is outside it: a run
    folder, a run file, a saved config or a log that is a link out (``path`` is the path asked
    for, ``target`` where it really leads, ``storage`` the storage folder).

    Example:
        >>> err = OutsideStorageError("Run 'x' is a link out.", path="s/x", target="/etc")
        >>> isinstance(err, PermissionError), err.target
        (True, '/etc')
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        target: str | None = None,
        storage: str | None = None,
    ) -> None:
        super().__init__(message, path=path, target=target, storage=storage)


class DiskFullError(HypertunerError, OSError):
    """No space left where a file is being written: ``path`` is the folder, ``needed`` the bytes
    the write needs (about), ``free`` the bytes free there (or ``None``). ``errno`` is
    ``ENOSPC`` (``EDQUOT`` for a quota).

    Example:
        >>> import errno
        >>> err = DiskFullError("No space left.", path="runs/a", needed=2048, free=512)
        >>> isinstance(err, OSError), err.errno == errno.ENOSPC, err.needed
        (True, True, 2048)
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        needed: int | None = None,
        free: int | None = None,
    ) -> None:
        super().__init__(message, path=path, needed=needed, free=free)
        self.errno = errno.ENOSPC
        self.strerror = message
        self.filename = path
