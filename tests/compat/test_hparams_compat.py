"""hypertuner's HParams against Rayhane-mamah's ``hparams`` (GitHub commit 549100f, Dec 2022).

That hparams is not on PyPI: ``pip install hparams`` installs another project (Michael
Petrochuk's), and the README's ``pip install git+https://github.com/Rayhane-mamah/hparams``
needs GitHub, which CI and this project's test environment cannot count on. So these tests never
skip for want of it: each snippet runs under hypertuner (import line changed) and its result is
compared with ``RECORDED``, the result the same snippet gave under hparams 549100f itself (its
source run with Python 3.11; ``gcsfs``, which it imports, installed). Where the README shows
something hparams does not do, the recorded value shows what hparams does and the test asserts
hypertuner's better behaviour.

To check the recordings against the original again, point ``COMPAT_HPARAMS_PYTHON`` at a Python
where that hparams is installed (``pip install gcsfs`` and a checkout of the commit): each snippet
then runs under it too, and must still give its recorded result.

hparams writes ``logs-<run.name>/hparams-<run.name>.cfg`` beside the file, and hypertuner
``storage/<run.name>/hparams.cfg``: the snippets compare values, not where the copy lives.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.compat._differential import HPARAMS, run, run_hypertuner, strict

pytestmark = pytest.mark.slow  # each case runs the original in .venv-compat too

README_CFG = """\
[run]
name = some_run_name
some_other_run_param = some_value

[some_other_section]
some_other_param = some_other_value
"""


def check_recorded(
    source: str,
    recorded: Any,
    tmp_path: Path,
    files: dict[str, str],
) -> Any:
    """Assert that hypertuner gives ``recorded`` for ``source``; return hypertuner's result.

    With ``COMPAT_HPARAMS_PYTHON`` set, first assert that the original still gives it.
    """
    original_python = os.environ.get("COMPAT_HPARAMS_PYTHON")
    if original_python:
        outcome = run(original_python, source, tmp_path / "original", files=files)
        assert outcome.ok, outcome.describe()
        assert strict(outcome.results[0]) == strict(recorded), "the recording is out of date"
    ours = run_hypertuner(
        source,
        HPARAMS,
        tmp_path / "hypertuner",
        storage=tmp_path / "storage",
        files=files,
        expected=recorded,
    )
    return ours


def assert_recorded(source: str, recorded: Any, tmp_path: Path, files: dict[str, str]) -> None:
    """hypertuner's result for ``source`` is the one recorded from hparams."""
    ours = check_recorded(source, recorded, tmp_path, files)
    assert strict(ours) == strict(recorded), (
        f"hypertuner gives {ours!r}\nhparams gives {recorded!r}"
    )


# ---------------------------------------------------------------------------------------------
# The README


def test_readme_basic_usage_and_recall_by_object_name(tmp_path: Path) -> None:
    """The README's config (with a user key in ``[run]``), loaded in the entry script and fetched
    by name elsewhere."""
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", name="some_object_name")
        elsewhere = HParams.get_hparams_by_name("some_object_name")
        emit({
            "same object": elsewhere is hparams,
            "run.name": elsewhere.run.name,
            "some_other_section.some_other_param": elsewhere.some_other_section.some_other_param,
        })
        """,
        {
            "same object": True,
            "run.name": "some_run_name",
            "some_other_section.some_other_param": "some_other_value",
        },
        tmp_path,
        {"hparams.cfg": README_CFG},
    )


def test_readme_top_level_read_of_a_run_key_works_unlike_hparams(tmp_path: Path) -> None:
    """The README prints ``hparams.some_other_run_param`` (a ``[run]`` key); hparams itself raises
    ValueError there (it reads top-level names from ``[DEFAULT]`` only). hypertuner gives the
    value, as the README (and issue 11) mean."""
    source = """
        from hparams import HParams

        hparams = HParams(".", name="some_object_name")
        try:
            emit(hparams.some_other_run_param)
        except ValueError:
            emit("ValueError")
        """
    recorded = "ValueError"  # 'Argument "some_other_run_param" was not found ... "DEFAULT"!'
    ours = check_recorded(source, recorded, tmp_path, {"hparams.cfg": README_CFG})
    assert ours == "some_value"


def test_readme_another_cfg_file_by_hparams_filename(tmp_path: Path) -> None:
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", hparams_filename="some_other_cfg_name", name="some_object_name")
        emit([hparams.run.name, hparams.model.layers])
        """,
        ["other", 4],
        tmp_path,
        {
            "hparams.cfg": "[run]\nname = not_this_one\n",
            "some_other_cfg_name.cfg": "[run]\nname = other\n\n[model]\nlayers = 4\n",
        },
    )


def test_recall_reads_the_saved_copy_not_the_edited_file(tmp_path: Path) -> None:
    """A second run under the same ``run.name`` reads the copy saved by the first one."""
    source = """
        from hparams import HParams

        hparams = HParams(".", name="h")
        emit([hparams.model.lr, hparams.model.layers])
        """
    first = "[run]\nname = exp\n\n[model]\nlr = 0.1\nlayers = 2\n"
    edited = "[run]\nname = exp\n\n[model]\nlr = 0.5\nlayers = 8\n"
    recorded = [[0.1, 2], [0.1, 2], [0.5, 8]]  # first run, edited recall, another run name
    original_python = os.environ.get("COMPAT_HPARAMS_PYTHON")
    results = []
    for text, expected in zip(
        (first, edited, edited.replace("exp", "exp2")), recorded, strict=True
    ):
        files = {"hparams.cfg": text}
        if original_python:
            outcome = run(original_python, source, tmp_path / "original", files=files)
            assert outcome.ok, outcome.describe()
            assert strict(outcome.results[0]) == strict(expected), "the recording is out of date"
        folder = tmp_path / "hypertuner"
        storage = tmp_path / "storage"
        results.append(run_hypertuner(source, HPARAMS, folder, storage=storage, files=files))
    assert strict(results) == strict(recorded)


def test_gcs_backup_keywords_are_accepted(tmp_path: Path) -> None:
    """``gcs_backup_project=`` / ``gcs_backup_bucket=`` (README's GCS backup) are keywords of
    HParams; a project without a bucket is a ValueError before anything is read remotely."""
    assert_recorded(
        """
        from hparams import HParams

        try:
            HParams(".", gcs_backup_project="some_project_name", name="some_name")
            emit("accepted")
        except ValueError:
            emit("ValueError")
        """,
        "ValueError",  # hparams: "GCS bucket must be provided to conduct gcs backup!"
        tmp_path,
        {"hparams.cfg": README_CFG},
    )


# ---------------------------------------------------------------------------------------------
# Keys and values


def test_run_section_holds_user_keys(tmp_path: Path) -> None:
    """``[run]`` keeps the user's keys beside ``name``, evaluated like any other value."""
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", name="h")
        emit([hparams.run.name, hparams.run.some_other_run_param, hparams.run.nb_gpus,
              hparams.run.devices])
        """,
        ["exp", "some_value", 4, [0, 1]],
        tmp_path,
        {
            "hparams.cfg": (
                "[run]\nname = exp\nsome_other_run_param = some_value\nnb_gpus = 4\n"
                "devices = [0, 1]\n"
            )
        },
    )


def test_keys_are_case_insensitive(tmp_path: Path) -> None:
    """configparser lowercases keys: ``LR`` reads as ``.lr`` (and as ``.LR``); a ``[Model]``
    section reads as ``.model``."""
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", name="h")
        emit([hparams.train.lr, hparams.train.LR, hparams.train.batch_size,
              hparams.model.layers])
        """,
        [0.1, 0.1, 32, 4],
        tmp_path,
        {
            "hparams.cfg": "[run]\nname = exp\n\n[train]\nLR = 0.1\nBatch_Size = 32\n\n"
            "[Model]\nLayers = 4\n"
        },
    )


def test_dashes_in_names_read_as_underscores(tmp_path: Path) -> None:
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", name="h")
        emit([hparams.my_section.my_key, hparams.my_section.other_key])
        """,
        [2, "x"],
        tmp_path,
        {"hparams.cfg": "[run]\nname = exp\n\n[my-section]\nmy-key = 2\nother_key = x\n"},
    )


def test_a_name_key_outside_run_is_text(tmp_path: Path) -> None:
    """hparams never evaluates a key called ``name``, in any section: ``name = 3`` is ``"3"``."""
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", name="h")
        emit([hparams.model.name, hparams.data.name, hparams.run.name])
        """,
        ["resnet", "3", "exp"],
        tmp_path,
        {"hparams.cfg": "[run]\nname = exp\n\n[model]\nname = resnet\n\n[data]\nname = 3\n"},
    )


def test_values_are_python_expressions_or_bare_words(tmp_path: Path) -> None:
    assert_recorded(
        """
        from hparams import HParams

        v = HParams(".", name="h").values
        emit({key: getattr(v, key) for key in
              ["integer", "real", "half", "biggest", "items", "pair", "truth", "nothing",
               "quoted", "word", "scientific", "negative"]})
        """,
        {
            "integer": 4,
            "real": 0.5,
            "half": 0.5,
            "biggest": 7,
            "items": [1, 2, 3],
            "pair": [1, "a"],
            "truth": True,
            "nothing": None,
            "quoted": "hello",
            "word": "relu",
            "scientific": 0.0001,
            "negative": -3,
        },
        tmp_path,
        {
            "hparams.cfg": textwrap.dedent(
                """\
                [run]
                name = exp

                [values]
                integer = 4
                real = 0.5
                half = 1/2
                biggest = max(3, 7)
                items = [1, 2, 3]
                pair = (1, "a")
                truth = True
                nothing = None
                quoted = "hello"
                word = relu
                scientific = 1e-4
                negative = -3
                """
            )
        },
    )


def test_default_section_is_read_at_the_top_level_and_in_run(tmp_path: Path) -> None:
    """configparser's ``[DEFAULT]`` keys: ``hparams.<key>`` reads them, and so does each section
    that is spelled in lowercase in the file (``hparams.run.<key>``)."""
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", name="h")
        emit([hparams.seed, hparams.run.seed, hparams.model.seed, hparams.model.layers])
        """,
        [7, 7, 7, 4],
        tmp_path,
        {"hparams.cfg": "[DEFAULT]\nseed = 7\n\n[run]\nname = exp\n\n[model]\nlayers = 4\n"},
    )


def test_missing_keys_and_sections_are_value_errors(tmp_path: Path) -> None:
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", name="h")
        out = []
        for read in (lambda: hparams.model.missing, lambda: hparams.nosuch.key,
                     lambda: hparams.run.missing):
            try:
                out.append(read())
            except ValueError:
                out.append("ValueError")
        emit(out)
        """,
        ["ValueError", "ValueError", "ValueError"],
        tmp_path,
        {"hparams.cfg": "[run]\nname = exp\n\n[model]\nlayers = 4\n"},
    )


def test_names_of_loaded_objects(tmp_path: Path) -> None:
    """An unknown name is a KeyError; loading a name twice is a ValueError."""
    assert_recorded(
        """
        from hparams import HParams

        first = HParams(".", name="h")
        out = []
        try:
            HParams.get_hparams_by_name("other")
        except KeyError:
            out.append("KeyError")
        try:
            HParams(".", name="h")
        except ValueError:
            out.append("ValueError")
        out.append(HParams.get_hparams_by_name("h") is first)
        emit(out)
        """,
        ["KeyError", "ValueError", True],
        tmp_path,
        {"hparams.cfg": "[run]\nname = exp\n"},
    )


def test_iteration_gives_the_section_names_and_to_dict_the_values(tmp_path: Path) -> None:
    assert_recorded(
        """
        from hparams import HParams

        hparams = HParams(".", name="h")
        emit([list(hparams), hparams.to_dict()])
        """,
        [
            ["run", "model"],
            {"run": {"name": "exp", "gpus": 2}, "model": {"layers": 4, "act": "relu"}},
        ],
        tmp_path,
        {"hparams.cfg": "[run]\nname = exp\ngpus = 2\n\n[model]\nLayers = 4\nact = relu\n"},
    )


@pytest.mark.parametrize(
    ("cfg", "recorded"),
    [
        pytest.param("[run]\nname = exp\n\n[model]\nlayers = 4\n", [4], id="plain"),
        pytest.param("[run]\nname = exp\n\n[model]\n# a comment\nlayers = 4\n", [4], id="comment"),
        pytest.param("[run]\nname = exp\n\n[model]\nlayers: 4\n", [4], id="colon"),
    ],
)
def test_ini_syntax(tmp_path: Path, cfg: str, recorded: list[Any]) -> None:
    assert_recorded(
        """
        from hparams import HParams

        emit([HParams(".", name="h").model.layers])
        """,
        recorded,
        tmp_path,
        {"hparams.cfg": cfg},
    )
