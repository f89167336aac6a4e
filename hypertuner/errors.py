"""Every exception and warning hypertuner raises.

Each error is a :class:`HypertunerError` and also the builtin a caller would naturally catch.
Each class declares its facts (``key``, ``path``, ``line``, ``value``, ``suggestions``...) as
typed attributes in its ``__init__``, so code and the command line read them without parsing the
message; ``str(error)`` is the message.

Example:
    >>> from hypertuner.errors import ConfigError, HypertunerError
    >>> issubclass(ConfigError, ValueError) and issubclass(ConfigError, HypertunerError)
    True
    >>> ConfigError("Bad value.", key="lr").key
    'lr'
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Iterable, Sequence
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
    "SearchArgumentError",
    "SearchSpecError",
    "TrialPruned",
    "UnknownKeyError",
    "UsageError",
    "nearest_hint",
    "suggest",
]


def suggest(word: str, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Return up to ``n`` names from ``choices`` close to ``word``, best first (``cutoff``: how
    alike they must be, from 0 to 1).

    Case does not count against a name: ``"TPE"`` finds ``"tpe"``.

    Example:
        >>> suggest("optim.lrr", ["optim.lr", "model.layers"])
        ['optim.lr']
        >>> suggest("ASHA", ["asha", "median"])
        ['asha']
    """
    import difflib  # only an error pays for it

    by_lower: dict[str, list[str]] = {}
    for name in choices:
        by_lower.setdefault(name.lower(), []).append(name)
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=cutoff)
    # Names alike but for case stand together, the one written as ``word`` first.
    found = [name for key in close for name in sorted(by_lower[key], key=lambda x: x != word)]
    return found[:n]


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
        return did_you_mean(close), close
    if not choices:
        return "", []
    more = "..." if len(choices) > 10 else ""
    return f" {listing}: {', '.join(repr(n) for n in choices[:10])}{more}.", []


def did_you_mean(suggestions: Sequence[str]) -> str:
    """The sentence ``" Did you mean 'a' or 'b'?"`` (with a leading space), or ``""``.

    Example:
        >>> did_you_mean(["optim.lr", "optim.lr2"])
        " Did you mean 'optim.lr' or 'optim.lr2'?"
    """
    if not suggestions:
        return ""
    if len(suggestions) == 1:
        return f" Did you mean {suggestions[0]!r}?"
    head = ", ".join(repr(s) for s in suggestions[:-1])
    return f" Did you mean {head} or {suggestions[-1]!r}?"


def _rebuild(cls: type[HypertunerError], message: str, facts: dict[str, Any]) -> HypertunerError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(facts)
    return error


class HypertunerError(Exception):
    """Base class of every error hypertuner raises; ``message`` is its text.

    Example:
        >>> isinstance(HypertunerError("x"), Exception)
        True
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only facts do not survive pickle's default cls(*args): sweeps send errors
        # between processes, so rebuild from the message and the facts.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


class UsageError(HypertunerError, ValueError):
    """A command line that does not parse or asks for something impossible (one stderr line).

    Attributes:
        option: the option or argument at fault, when one is.
        value: the value given, when one was.

    Example:
        >>> UsageError("Unrecognized arguments: --x.", option="--x").option
        '--x'
    """

    def __init__(self, message: str, *, option: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.option = option
        self.value = value


class ConfigError(HypertunerError, ValueError):
    """A config file, an override or a value is not what it should be.

    Attributes:
        key: the full dotted key at fault.
        path: the config file, as the user named it.
        line: the line in that file (1-based).
        column: the column on that line (1-based).
        value: the value (or command-line token) at fault.
        expected: the type or form that was expected.
        lines: every line involved (a key repeated on two lines).
        changes: for a recalled run, each refused change as ``"key: old -> new"``.

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
        expected: str | None = None,
        lines: tuple[int, ...] = (),
        changes: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.key = key
        self.path = path
        self.line = line
        self.column = column
        self.value = value
        self.expected = expected
        self.lines = tuple(lines)
        self.changes = list(changes)


class UnknownKeyError(ConfigError, KeyError, AttributeError):
    """A key that no config, default or schema declares.

    It is also a ``KeyError`` (item access) and an ``AttributeError`` (attribute access, so
    ``hasattr`` keeps working).

    Attributes:
        suggestions: the nearest valid keys, best first (at most three).

    Example:
        >>> err = UnknownKeyError.for_key("optim.lrr", ["optim.lr"])
        >>> str(err)
        "Unknown key 'optim.lrr'. Did you mean 'optim.lr'?"
        >>> err.suggestions
        ['optim.lr']
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        suggestions: Sequence[str] = (),
        path: str | None = None,
        line: int | None = None,
        value: Any = None,
    ) -> None:
        super().__init__(message, key=key, path=path, line=line, value=value)
        self.suggestions = list(suggestions)

    @classmethod
    def for_key(
        cls,
        key: str,
        valid: Iterable[str],
        *,
        where: str = "",
        hint: str = "",
        path: str | None = None,
        line: int | None = None,
        value: Any = None,
    ) -> UnknownKeyError:
        """Build the error for ``key``, suggesting the nearest of ``valid``.

        Example:
            >>> str(UnknownKeyError.for_key("lrr", ["lr"], hint="Use '+lrr=1' to add it."))
            "Unknown key 'lrr'. Did you mean 'lr'? Use '+lrr=1' to add it."
        """
        suggestions = suggest(key, valid)
        msg = f"Unknown key {key!r}{where}.{did_you_mean(suggestions)}"
        if hint:
            msg += f" {hint}"
        return cls(msg, key=key, suggestions=suggestions, path=path, line=line, value=value)

    def __str__(self) -> str:
        # KeyError.__str__ would put quotes around the whole message.
        return self.message


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file that is in none of the places it was looked for.

    Attributes:
        searched: the folders looked in.

    Example:
        >>> err = ConfigFileNotFoundError("Config file 'a.json' not found.", path="a.json")
        >>> isinstance(err, FileNotFoundError), err.path
        (True, 'a.json')
    """

    def __init__(
        self, message: str, *, path: str | None = None, searched: Sequence[str] = ()
    ) -> None:
        super().__init__(message, path=path)
        self.searched = list(searched)


class RunNameError(HypertunerError, ValueError):
    """A run name that is not a safe folder name.

    Attributes:
        name: the refused name.

    Example:
        >>> RunNameError("Run name 'a/b' is not allowed.", name="a/b").name
        'a/b'
    """

    def __init__(self, message: str, *, name: object = None) -> None:
        super().__init__(message)
        self.name = name


class RunNotFoundError(HypertunerError, LookupError):
    """A run name with no folder in the storage (or a storage folder with no runs).

    Attributes:
        name: the run looked for (``None`` when no run at all was found).
        suggestions: the nearest run names.

    Example:
        >>> isinstance(RunNotFoundError("No run 'x'.", name="x"), LookupError)
        True
    """

    def __init__(
        self, message: str, *, name: str | None = None, suggestions: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.name = name
        self.suggestions = list(suggestions)


class RunInUseError(HypertunerError, RuntimeError):
    """A run that exists already, or that another process is writing right now.

    Attributes:
        name: the run (or sweep) name.
        path: the file waited for or locked, when one is.

    Example:
        >>> isinstance(RunInUseError("Run 'x' is in use.", name="x"), RuntimeError)
        True
    """

    def __init__(self, message: str, *, name: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.path = path


class SearchSpecError(HypertunerError, ValueError):
    """A search space, strategy, option or override expression that cannot be searched.

    Attributes:
        key: the parameter or option at fault (``"lr"``, ``"workers"``).
        value: the value given.
        path: the script or file at fault.
        name: the sweep at fault.
        suggestions: the nearest valid names.

    Example:
        >>> SearchSpecError("Empty space.", key="lr").key
        'lr'
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        value: Any = None,
        path: str | None = None,
        name: str | None = None,
        suggestions: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.key = key
        self.value = value
        self.path = path
        self.name = name
        self.suggestions = list(suggestions)


class SearchArgumentError(SearchSpecError, TypeError):
    """A search call with a missing or wrong argument: a :class:`SearchSpecError` that is also
    the ``TypeError`` test-tube raises for it (``optimize_parallel_gpu(..., nb_trials=...)``,
    random search without a trial count).

    Attributes:
        key: the argument at fault (``"nb_trials"``).
        value: the value given.
        suggestions: the arguments meant, best first.

    Example:
        >>> err = SearchArgumentError("No nb_trials here.", key="nb_trials", value=192)
        >>> isinstance(err, TypeError), isinstance(err, ValueError), err.key
        (True, True, 'nb_trials')
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        value: Any = None,
        suggestions: Sequence[str] = (),
    ) -> None:
        super().__init__(message, key=key, value=value, suggestions=suggestions)


class MissingDependencyError(HypertunerError, ImportError):
    """An optional package a feature needs is not installed.

    Attributes:
        module: the module that could not be imported.
        extra: the ``hypertuner[extra]`` that installs it, when one does.
        url: the URL that needed it (remote storage), when one did.

    Example:
        >>> MissingDependencyError("Needs ray.", module="ray", extra="ray").extra
        'ray'
    """

    def __init__(
        self,
        message: str,
        *,
        module: str | None = None,
        extra: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.module = module
        self.extra = extra
        self.url = url


class MetricError(HypertunerError, ValueError):
    """A metric name, value, step or mode that cannot be logged or ranked.

    Attributes:
        key: the metric's name.
        value: the value at fault.
        suggestions: the nearest metric names.

    Example:
        >>> isinstance(MetricError("Metric 'x' is not a number.", key="x"), ValueError)
        True
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        value: Any = None,
        suggestions: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.key = key
        self.value = value
        self.suggestions = list(suggestions)


class NoRunError(HypertunerError, RuntimeError):
    """Something that needs a running run found none (no run started, or the run has ended).

    Attributes:
        name: the ended run, when there is one.

    Example:
        >>> isinstance(NoRunError("No run."), RuntimeError)
        True
    """

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class CheckpointError(HypertunerError, ValueError):
    """A saved model file that is truncated, corrupt, changed since it was written, or not
    loadable with ``weights_only=True``.

    Attributes:
        path: the file.
        reason: what is wrong, one word: ``"size"``, ``"sha256"``, ``"unverified"``, ``"corrupt"``,
            ``"format"``, ``"version"``, ``"weights_only"``, ``"optimizer"`` or ``"mismatch"``.

    Example:
        >>> CheckpointError("Model file 'model.pt' is corrupt.", path="model.pt").path
        'model.pt'
    """

    def __init__(self, message: str, *, path: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No saved model where one was asked for (``path`` names the place looked at).

    Attributes:
        suggestions: the nearest run names, when the run itself was not found.

    Example:
        >>> isinstance(CheckpointNotFoundError("No model.pt."), FileNotFoundError)
        True
    """

    def __init__(
        self, message: str, *, path: str | None = None, suggestions: Sequence[str] = ()
    ) -> None:
        super().__init__(message, path=path)
        self.suggestions = list(suggestions)


class RemoteStorageError(HypertunerError, OSError):
    """A remote storage URL that cannot be listed, read or written right now.

    Attributes:
        url: the URL.
        file: the file (relative to the run folder) at fault, when one is.
        failed: each file that could not be copied, with the reason.

    Example:
        >>> isinstance(RemoteStorageError("Cannot list 's3://b/runs'.", url="s3://b/runs"), OSError)
        True
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        file: str | None = None,
        failed: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.file = file
        self.failed = dict(failed or {})

    def __str__(self) -> str:
        return self.message  # not OSError's "[Errno ...]" form


class LaunchError(HypertunerError, RuntimeError):
    """A run that cannot be started again from its record: no recorded script or interpreter,
    a script that no longer exists, a command that is not allowed, or launching turned off.

    Attributes:
        name: the run launched from (or the new run's name).
        path: the script or interpreter at fault.
        value: the value at fault (a host, a port, a recorded argument).

    Example:
        >>> isinstance(LaunchError("Script 'train.py' no longer exists."), RuntimeError)
        True
    """

    def __init__(
        self, message: str, *, name: str | None = None, path: str | None = None, value: Any = None
    ) -> None:
        super().__init__(message)
        self.name = name
        self.path = path
        self.value = value


class OutsideStorageError(HypertunerError, PermissionError):
    """A path in the storage folder whose real location, links resolved, is outside it: a run
    folder, a run file, a saved config or a log that is a link out.

    Attributes:
        path: the path asked for.
        target: where it really leads.
        storage: the storage folder.

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
        super().__init__(message)
        self.path = path
        self.target = target
        self.storage = storage

    def __str__(self) -> str:
        return self.message  # not OSError's "[Errno ...]" form


class DiskFullError(HypertunerError, OSError):
    """No space left where a file is being written; the file it would replace stays intact.

    Attributes:
        path: the folder written to.
        needed: about how many bytes the write needs.
        free: how many bytes are free there (``None`` when unknown).
        errno: ``ENOSPC`` (``EDQUOT`` for a quota), as for the ``OSError`` it stands for.

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
        super().__init__(message)
        self.path = path
        self.needed = needed
        self.free = free
        self.errno = _errno.ENOSPC
        self.strerror = message
        self.filename = path

    def __str__(self) -> str:
        return self.message


class TrialPruned(HypertunerError, RuntimeError):
    """A sweep's pruner stopped this trial: raised by :func:`hypertuner.log` at the trial's next
    call after the pruner's decision, so the training code stops where it stands.

    Let it propagate out of the trial function (or the script): the trial's run then ends with
    status ``pruned``. A trial may also raise it itself to stop early.

    Attributes:
        step: the step of the last value the pruner saw, when known.
        metric: the sweep's metric.
        value: that value.

    Example:
        >>> import hypertuner
        >>> err = hypertuner.TrialPruned(step=3, metric="val_loss", value=0.9)
        >>> err.step, str(err)
        (3, "Trial pruned at step 3: its 'val_loss' of 0.9 is not promising.")
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        step: int | None = None,
        metric: str | None = None,
        value: float | None = None,
    ) -> None:
        if message is None:
            where = f" at step {step}" if step is not None else ""
            why = (
                f": its {metric!r} of {value:g} is not promising"
                if metric and value is not None
                else ""
            )
            message = f"Trial pruned{where}{why}."
        super().__init__(message)
        self.step = step
        self.metric = metric
        self.value = value


class HypertunerWarning(UserWarning):
    """Something worth knowing that does not stop the run.

    Example:
        >>> issubclass(HypertunerWarning, UserWarning)
        True
    """
