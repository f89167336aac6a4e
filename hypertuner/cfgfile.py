"""``HParams``: an hparams-style ``.cfg`` file as a named run (the format: ``_cfgformat``).

``HParams(project_path, hparams_filename, name)`` reads ``<project_path>/<hparams_filename>.cfg``,
starts (or recalls) the run its ``[run]`` section names, and keeps the instance by ``name`` for
the whole process. See :mod:`hypertuner._cfgformat` for what a ``.cfg`` file may hold.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import _files
from ._cfgformat import normal_name, read_cfg
from ._layout import check_run_name, storage_root
from ._trees import flatten
from .args import Args
from .config import RUN_KEYS
from .errors import ConfigError, ConfigFileNotFoundError, UnknownKeyError, suggest
from .run import current_run, start_run
from .storage import check_url, mirror_run

__all__ = ["HParams"]

# ---------------------------------------------------------------------------------------------
# HParams

_instances: dict[str, HParams] = {}
_instances_lock = threading.Lock()
_EXTENSIONS = (".cfg", ".ini")


def _cfg_path(project_path: str | os.PathLike[str], hparams_filename: str) -> Path:
    folder = Path(project_path).expanduser()
    filename = os.fspath(hparams_filename)
    if not filename.lower().endswith(_EXTENSIONS):
        filename += ".cfg"
    path = folder / filename
    if path.is_file():
        return path
    searched = os.path.abspath(folder)
    if folder.is_dir():
        present = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in _EXTENSIONS)
        close = suggest(filename, present)
        if close:
            hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif present:
            hint = " The .cfg files there: " + ", ".join(repr(p) for p in present[:10]) + "."
        else:
            hint = " That folder holds no .cfg file."
    else:
        hint = " That folder does not exist."
    msg = (
        f"Config file {filename!r} not found in {searched!r} (HParams reads "
        f"<project_path>/<hparams_filename>.cfg).{hint}"
    )
    raise ConfigFileNotFoundError(msg, path=str(path), searched=[searched])


def _read_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"Config file {shown!r} is not UTF-8 text (byte {exc.start})."
        raise ConfigError(msg, path=shown) from None
    except OSError as exc:
        msg = f"Config file {shown!r} cannot be read: {exc.strerror}."
        raise ConfigError(msg, path=shown) from None


def _run_section(data: dict[str, Any], lines: Mapping[str, int], shown: str) -> dict[str, Any]:
    """The ``[run]`` section (run settings and the user's own keys); it must name the run."""
    section = data.get("run")
    if not isinstance(section, dict) or not section.get("name"):
        line = lines.get("run")
        at = f" (the [run] section starts on line {line})" if line else ""
        msg = (
            f"Config file {shown!r} has no run.name{at}: add a [run] section with a line such as "
            "'name = baseline'; HParams keeps the run in storage/<run.name>/."
        )
        raise ConfigError(msg, path=shown, key="run.name", line=line)
    return section


def _gcs_backup(project: str | None, bucket: str | None, backup: str | None) -> str | None:
    """hparams' ``gcs_backup_project``/``gcs_backup_bucket``: another spelling of ``backup=``."""
    if project is not None and bucket is None:
        msg = (
            "gcs_backup_project is given without gcs_backup_bucket: GCS bucket must be provided "
            "to conduct gcs backup (for example gcs_backup_bucket='my-bucket/runs')."
        )
        raise ConfigError(msg, key="gcs_backup_bucket", value=project)
    if bucket is None:
        return backup
    url = bucket if bucket.startswith("gs://") else f"gs://{bucket}"
    if backup is not None and backup.rstrip("/") != url.rstrip("/"):
        msg = (
            f"backup={backup!r} and gcs_backup_bucket={bucket!r} name two places: give one "
            "(gcs_backup_bucket is hparams' spelling of backup='gs://...')."
        )
        raise ConfigError(msg, key="backup", value=backup)
    return url


class _Section(Args):
    """A section of an :class:`HParams`: names are case-insensitive (``.LR`` reads ``lr``),
    and a key it lacks is read from the file's ``[DEFAULT]`` keys, as configparser does."""

    __slots__ = ("_defaults",)
    _defaults: dict[str, Any]

    def _child(self, name: str, value: Any) -> Any:
        child = super()._child(name, value)
        if isinstance(child, _Section):
            object.__setattr__(child, "_defaults", getattr(self, "_defaults", {}))
        return child

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        key = normal_name(name)
        if key in self._data:
            value = self._child(key, self._data[key])
        elif key in getattr(self, "_defaults", {}):
            value = self._defaults[key]
            if self._reads is not None:
                self._reads.add(key)
        else:
            raise self._unknown(name)
        self.__dict__[name] = value
        return value

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(normal_name(key) if isinstance(key, str) else key)


class HParams(Args):
    """The values of a ``.cfg`` file, as attributes and items, kept by name for the whole process.

    ``HParams(project_path, hparams_filename, name)`` reads
    ``<project_path>/<hparams_filename>.cfg`` (see the module docstring for the format), starts
    the run named by its required ``run.name`` (:func:`hypertuner.start_run`), saves the file's
    text as ``storage/<run.name>/hparams.cfg`` and the values in ``config.json``, and makes the
    values the base of ``param_scope`` and ``auto_param``, as :func:`hypertuner.parse` does. The
    run becomes the current run, ending the one before (an instance whose file names the current
    run shares it).

    When ``storage/<run.name>/hparams.cfg`` exists already, that saved copy is read instead of
    the (possibly edited) file, and one line on stderr says so: the run is recalled as it was.
    Delete the run folder, or change ``run.name``, to start afresh. In the ``[run]`` section,
    ``name``, ``storage``, ``resume`` (``recall``, ``refuse`` or ``new``) and ``backup`` (an
    fsspec URL the run folder is mirrored to) are the run settings, read as plain text; any other
    key there is a value like any other (``hparams.run.nb_gpus``, also ``hparams.nb_gpus``).
    ``backup=`` given here wins over ``run.backup``.

    Names read as in hparams: case-insensitive (``hparams.train.LR`` is the file's ``lr``), with
    ``-`` read as ``_``. The keys of ``[DEFAULT]`` are read at the top (``hparams.seed``) and in
    every section that lacks them (``hparams.model.seed``); ``list(hparams)`` gives the section
    names, and ``to_dict()`` each section with the ``[DEFAULT]`` keys in it, as hparams does.

    Sections are :class:`hypertuner.Args` (``hparams.model.layers``, ``hparams["model.layers"]``);
    values are read-only. ``HParams.get_hparams_by_name(name)`` returns the instance from any
    module; creating a second instance under a name already loaded is an error.

    Args:
        project_path: the folder that holds the ``.cfg`` file.
        hparams_filename: the file name, without the ``.cfg`` extension.
        name: the name this instance is kept under in the process (not the run's name).
        backup: a URL (``s3://bucket/runs``, ``gs://...``, ``file://...``) that the run folder is
            mirrored to, as ``<backup>/<run.name>/``.
        gcs_backup_project: hparams' keyword: the Google Cloud project of ``gcs_backup_bucket``
            (passed to gcsfs; optional here).
        gcs_backup_bucket: hparams' keyword for ``backup="gs://<bucket>"`` (``gs://`` may be
            left out).

    Raises:
        ConfigFileNotFoundError: the ``.cfg`` file does not exist (the message names the folder).
        ConfigError: the file is malformed, a value is refused, ``run.name`` is missing,
            ``name`` is already loaded in this process, or ``gcs_backup_project`` comes without
            ``gcs_backup_bucket`` (also a ``ValueError``, as in hparams).
        RunNameError: ``run.name`` is not a safe folder name.
        MissingDependencyError: ``backup`` needs a package that is not installed.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with open(os.path.join(folder, "hparams.cfg"), "w") as handle:
        ...     _ = handle.write("[run]\\nname = doc\\nstorage = " + folder + "/storage\\n"
        ...                      "[model]\\nlayers = 2 * 2\\nactivation = relu\\n")
        >>> hparams = HParams(folder, name="doc-example")
        >>> hparams.model.layers, hparams["model.activation"], hparams.run.name
        (4, 'relu', 'doc')
        >>> HParams.get_hparams_by_name("doc-example") is hparams
        True
        >>> sorted(os.listdir(os.path.join(folder, "storage", "doc")))
        ['.lock', 'config.json', 'hparams.cfg', 'meta.json']
        >>> import hypertuner; hypertuner.current_run().finish()
    """

    __slots__ = ("_file", "_name", "_run")
    _section_class = _Section

    def __new__(
        cls,
        project_path: str | os.PathLike[str] = ".",
        hparams_filename: str = "hparams",
        name: str = "hparams",
        backup: str | None = None,
        *,
        gcs_backup_project: str | None = None,
        gcs_backup_bucket: str | None = None,
    ) -> HParams:
        backup = _gcs_backup(gcs_backup_project, gcs_backup_bucket, backup)
        with _instances_lock:
            loaded = _instances.get(name)
        if loaded is not None:
            raise _already_loaded(name, loaded)
        path = _cfg_path(project_path, hparams_filename)
        shown = os.fspath(path)
        text = _read_text(path, shown)
        data, lines = read_cfg(str(path), text, display=shown)
        section = _run_section(data, lines, shown)
        run_name = check_run_name(section["name"])
        resume = section.get("resume", "recall")
        root = storage_root(section.get("storage"))
        saved = root / run_name / "hparams.cfg"
        if resume != "new" and saved.is_file():
            saved_text = _read_text(saved, str(saved))
            data, lines = read_cfg(str(saved), saved_text, display=str(saved))
            section = _run_section(data, lines, str(saved))
            edited = "" if saved_text == text else f"; the edits in {shown} are not used"
            print(
                f"hypertuner: run {run_name!r} exists, so its saved {saved} is used{edited} "
                f"(delete {saved.parent} or change run.name to start a new run).",
                file=sys.stderr,
            )
        settings = {key: value for key, value in section.items() if key in RUN_KEYS}
        url = backup or settings.get("backup")
        if url:
            check_url(url)
        options = {"project": gcs_backup_project} if gcs_backup_project and url else None
        config = _config_of(data)
        run = current_run()
        if run is None or run.name != run_name or run.storage != root or run.status != "running":
            run = start_run(
                config,
                name=run_name,
                storage=root,
                resume=resume,
                explicit=flatten(config),
                backup=None if options else url,
            )
            if run.is_writer and not (run.directory / "hparams.cfg").is_file():
                _files.write_bytes(run.directory / "hparams.cfg", text.encode("utf-8"))
                run.wrote(run.directory / "hparams.cfg")
            if options and url:
                mirror_run(run, url, storage_options=options)
        elif url:
            mirror_run(run, url, storage_options=options)  # the current run, started elsewhere
        self = run.view(cls, _values(data, run.config, settings, run.name))
        object.__setattr__(self, "_file", path)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_run", run)
        with _instances_lock:
            if name in _instances:  # another thread loaded the same name meanwhile
                raise _already_loaded(name, _instances[name])
            _instances[name] = self
        return self

    def __init__(
        self,
        project_path: str | os.PathLike[str] = ".",
        hparams_filename: str = "hparams",
        name: str = "hparams",
        backup: str | None = None,
        *,
        gcs_backup_project: str | None = None,
        gcs_backup_bucket: str | None = None,
    ) -> None:
        """Everything happens in ``__new__``; see the class docstring."""

    # -- hparams' ways of reading ----------------------------------------------------------

    def _child(self, name: str, value: Any) -> Any:
        child = super()._child(name, value)
        if isinstance(child, _Section):
            object.__setattr__(child, "_defaults", self._defaults())
        return child

    def _defaults(self) -> dict[str, Any]:
        """The top-level values: the file's ``[DEFAULT]`` keys."""
        return {k: v for k, v in self._data.items() if not isinstance(v, dict)}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        key = normal_name(name)
        if key in self._data:
            value = self._child(key, self._data[key])
        else:
            run = self._data.get("run")
            if not (isinstance(run, dict) and key in run):
                raise self._unknown(name)
            value = self._child("run", run)[key]  # hparams.<key> of a [run] key
        self.__dict__[name] = value
        return value

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(normal_name(key) if isinstance(key, str) else key)

    def __iter__(self) -> Iterator[str]:
        """The section names, in the file's order (``[DEFAULT]``'s keys are not sections)."""
        return iter([k for k, v in self._data.items() if isinstance(v, dict)])

    def to_dict(self) -> dict[str, Any]:
        """Return ``{section: {key: value}}`` with the ``[DEFAULT]`` keys in every section (as
        hparams does), as plain data; counts as reading every key."""
        data = super().to_dict()
        defaults = {k: v for k, v in data.items() if not isinstance(v, dict)}
        if not defaults:
            return data
        return {k: {**defaults, **v} for k, v in data.items() if isinstance(v, dict)}

    @staticmethod
    def get_hparams_by_name(name: str) -> HParams:
        """Return the :class:`HParams` loaded under ``name`` in this process.

        Raises:
            UnknownKeyError: no instance has that name (the nearest names are suggested).

        Example:
            >>> try:
            ...     HParams.get_hparams_by_name("never-loaded")
            ... except KeyError as err:
            ...     print(str(err).split(".")[0])
            No HParams named 'never-loaded' is loaded in this process
        """
        with _instances_lock:
            found = _instances.get(name)
            names = sorted(_instances)
        if found is not None:
            return found
        close = suggest(name, names)
        if close:
            hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif names:
            hint = " Loaded: " + ", ".join(repr(n) for n in names) + "."
        else:
            hint = f" Create it first: HParams('.', name={name!r})."
        msg = f"No HParams named {name!r} is loaded in this process.{hint}"
        raise UnknownKeyError(msg, key=name, suggestions=close)

    def __repr__(self) -> str:
        return (
            f"HParams(name={self._name!r}, file={os.fspath(self._file)!r}, values={self._data!r})"
        )


def _config_of(data: dict[str, Any]) -> dict[str, Any]:
    """The run's config: every value of the file but the run settings (name, storage...)."""
    config = {}
    for key, value in data.items():
        if key == "run":
            value = {k: v for k, v in value.items() if k not in RUN_KEYS}
            if not value:
                continue
        config[key] = value
    return config


def _values(
    data: Mapping[str, Any], config: Mapping[str, Any], settings: Mapping[str, Any], name: str
) -> dict[str, Any]:
    """What an HParams shows: the run's config in the file's order, with the run settings."""
    values: dict[str, Any] = {}
    for key in [*data, *(k for k in config if k not in data)]:
        if key == "run":
            values["run"] = {**dict(config.get("run") or {}), **settings, "name": name}
        elif key in config:
            values[key] = config[key]
    return values


def _already_loaded(name: str, loaded: HParams) -> ConfigError:
    msg = (
        f"An HParams named {name!r} is already loaded in this process (from "
        f"{os.fspath(loaded._file)!r}): get it with HParams.get_hparams_by_name({name!r}), or give "
        "the new one another name."
    )
    return ConfigError(msg, key="name", value=name)
