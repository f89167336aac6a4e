""".cfg files: the INI reader with safe expressions, HParams, and parse() reading .cfg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import hypertuner
from hypertuner import HParams, auto_param, cli, param_scope
from hypertuner import cfgfile as cfgfile_module
from hypertuner._cfgformat import read_cfg
from hypertuner.config import explain_text, resolve
from hypertuner.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    MissingDependencyError,
    RunNameError,
    UnknownKeyError,
)
from tests.conftest import write

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cfgfile"

ISSUE_CFG = """\
# hparams.cfg
[run]
name = resnet-baseline
[model]
layers = 4
dropout = 1/10
width = max(128, 3 * 64)
activation = relu
[train]
batch_size = 2 ** 6
schedule = [0.1, 0.01, 0.001]
"""

# Tests that build an HParams and read only some keys: the unread-keys report is not the point.
unread_ok = pytest.mark.filterwarnings(
    "ignore:Run .* never read:hypertuner.errors.HypertunerWarning"
)


@pytest.fixture(autouse=True)
def _no_loaded_hparams() -> Iterator[None]:
    """HParams names are unique per process: each test starts with none loaded."""
    cfgfile_module._instances.clear()
    yield
    cfgfile_module._instances.clear()


def everything(hparams: hypertuner.Args) -> dict:
    return hparams.to_dict()  # reads every key, so the run reports none unread


# ---------------------------------------------------------------------------------------------
# The reader


def test_sections_become_nested_keys_and_values_are_evaluated() -> None:
    data, lines = read_cfg("hparams.cfg", ISSUE_CFG)
    assert data == {
        "run": {"name": "resnet-baseline"},
        "model": {"layers": 4, "dropout": 0.1, "width": 192, "activation": "relu"},
        "train": {"batch_size": 64, "schedule": [0.1, 0.01, 0.001]},
    }
    assert lines["model.width"] == 7
    assert lines["train"] == 9


def test_top_level_keys_dotted_sections_continuations_and_comments() -> None:
    text = """\
seed = 3
; a comment
[model.encoder]
depth: 2
sizes = [1,
    2,
    # a comment inside the value
    3]
[model]
name = 'enc dec'
"""
    data, lines = read_cfg("a.cfg", text)
    assert data == {
        "seed": 3,
        "model": {"encoder": {"depth": 2, "sizes": [1, 2, 3]}, "name": "enc dec"},
    }
    assert lines["model.encoder.sizes"] == 5
    assert lines["model"] == 9


def test_byte_order_mark_crlf_and_trailing_comments_are_understood() -> None:
    text = "\ufeff[run]\r\nname = x\r\n[m]\r\nlr = 0.1  # c\r\nact = relu # c\r\ns = 'a # b'\r\n"
    data, _ = read_cfg("a.cfg", text)
    assert data == {"run": {"name": "x"}, "m": {"lr": 0.1, "act": "relu", "s": "a # b"}}


def test_values_are_stored_as_json_data() -> None:
    data, _ = read_cfg(
        "a.cfg", "t = (1, 2)\ns = {3, 1, 2}\nd = {'a': (1,)}\nn = None\nb = not False\n"
    )
    assert data == {"t": [1, 2], "s": [1, 2, 3], "d": {"a": [1]}, "n": None, "b": True}


def test_allowed_calls_and_operators_evaluate() -> None:
    text = (
        "a = round(2.567, 2)\nb = abs(-3) + pow(2, 10) % 7\nc = len([1, 2]) < 3 <= 3\n"
        "d = str(4) + 'x'\ne = sum([1, 2.5])\nf = int('7') // 2\ng = 1 if min(0, 1) else 2\n"
        "h = float(1) * 3\ni = bool(0) or 'y'\nj = 1 << 4 | 1\n"
    )
    data, _ = read_cfg("a.cfg", text)
    assert data == {
        "a": 2.57,
        "b": 5,
        "c": True,
        "d": "4x",
        "e": 3.5,
        "f": 3,
        "g": 2,
        "h": 3.0,
        "i": "y",
        "j": 17,
    }


def test_run_settings_are_text_never_evaluated() -> None:
    text = "[run]\nname = 2024\nbackup = s3://bucket/runs  # comment\nstorage = 'runs/x'\n"
    data, _ = read_cfg("a.cfg", text)
    assert data["run"] == {"name": "2024", "backup": "s3://bucket/runs", "storage": "runs/x"}


# ---------------------------------------------------------------------------------------------
# Bad input: every row asserts the error, the line and the key, and that no run was started.

BAD = [
    pytest.param(
        '__import__("os").system("touch PWNED")',
        ConfigError,
        "attribute access",
        id="import-system",
    ),
    pytest.param("__import__('os')", ConfigError, "dunder name '__import__'", id="dunder-call"),
    pytest.param("__builtins__", ConfigError, "dunder name", id="dunder-name"),
    pytest.param("os.sep", ConfigError, "attribute access", id="attribute"),
    pytest.param(
        "open('PWNED', 'w')", ConfigError, r"calling open\(\) is not allowed", id="other-call"
    ),
    pytest.param("max([1, 2])(3)", ConfigError, "calling an expression", id="call-of-call"),
    pytest.param("max([1], [2])[0]", ConfigError, "subscripting", id="subscript-of-call"),
    pytest.param("x + 1", ConfigError, "name 'x' is not allowed inside", id="other-name"),
    pytest.param("lambda: 1", ConfigError, "a lambda", id="lambda"),
    pytest.param("[i for i in [1]]", ConfigError, "a comprehension", id="comprehension"),
    pytest.param("f'{1}'", ConfigError, "an f-string", id="f-string"),
    pytest.param("(y := 1)", ConfigError, "walrus", id="walrus"),
    pytest.param("'%0999999999d' % 1", ConfigError, "string formatting", id="percent-format"),
    pytest.param("9 ** 9 ** 9", ConfigError, "more than the limit of 4,096", id="huge-power"),
    pytest.param("pow(10, 10 ** 6)", ConfigError, "more than the limit", id="huge-pow-call"),
    pytest.param("[0] * 10**12", ConfigError, "limit of 1,000,000", id="huge-list-repeat"),
    pytest.param("'ab' * 10**9", ConfigError, "limit of 1,000,000", id="huge-string-repeat"),
    pytest.param("[[0] * 1000] * 1001", ConfigError, "limit of 1,000,000", id="nested-repeat"),
    pytest.param("1 << 10**7", ConfigError, "more than the limit", id="huge-shift"),
    pytest.param("[" * 150 + "]" * 150, ConfigError, "nested parentheses|nests", id="deep-nesting"),
    pytest.param("-" * 50000 + "1", ConfigError, "nests", id="deep-unary"),
    pytest.param("1e308 * 10", ConfigError, "cannot be stored in config.json", id="infinity"),
    pytest.param("1 / 0", ConfigError, "division by zero", id="division-by-zero"),
    pytest.param("(-8) ** (1 / 3)", ConfigError, "complex number", id="complex-result"),
    pytest.param("{1: 2}", ConfigError, "not a string", id="non-string-dict-key"),
    pytest.param("b'x'", ConfigError, "bytes literals", id="bytes"),
    pytest.param(
        "hello world", ConfigError, "write 'hello world' to make it a string", id="not-python"
    ),
]


@pytest.mark.parametrize(("value", "error", "match"), BAD)
def test_refused_value_names_file_line_and_key(
    value: str, error: type[Exception], match: str, storage: Path
) -> None:
    write("hparams.cfg", f"[run]\nname = bad\n\n[model]\nlayers = 2\nvalue = {value}\n")
    with pytest.raises(error, match=match) as caught:
        HParams(".", name="bad")
    err = caught.value
    assert (err.path, err.line, err.key) == ("hparams.cfg", 6, "model.value")
    assert "'model.value'" in str(err)
    assert "(line 6)" in str(err)
    assert not storage.exists()
    assert not Path("PWNED").exists()


# One hostile call per allowed function: each is refused before it can take long, by a bound on
# its arguments (or on the argument it is given, when building that is what would take long).
HOSTILE_CALLS = [
    pytest.param("abs(-(10 ** 10 ** 8))", "integer of about 300,000,001 bits", id="abs"),
    pytest.param("bool([0] * 10 ** 9)", "limit of 1,000,000", id="bool"),
    pytest.param("float('1' * 199000)", r"float\(\) reads numbers of at most", id="float"),
    pytest.param("int('9' * 100000)", r"int\(\) reads numbers of at most", id="int"),
    pytest.param("len([[0] * 1000] * 1001)", "limit of 1,000,000", id="len"),
    pytest.param("max([2 ** 4095] * 400000)", "limit of 1,000,000", id="max-long-integers"),
    pytest.param("min('a' * 10 ** 7)", "limit of 1,000,000", id="min"),
    pytest.param("pow(10, 10 ** 8)", "more than the limit of 4,096", id="pow"),
    pytest.param("pow(3, 2 ** 5000, 7)", "more than the limit of 4,096", id="pow-modular"),
    pytest.param("round(1, -10 ** 8)", r"round\(\) keeps or drops at most 1,235", id="round"),
    pytest.param("round(1.5, 10 ** 8)", r"round\(\) keeps or drops at most", id="round-float"),
    pytest.param(r"str(['\x00' * 1000] * 999)", r"the text of str\(\)", id="str"),
    pytest.param("sum([1] * 10 ** 9)", "limit of 1,000,000", id="sum"),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("value", "match"), HOSTILE_CALLS)
def test_allowed_call_with_a_hostile_argument_is_refused_quickly(
    value: str, match: str, storage: Path
) -> None:
    write("hparams.cfg", f"[run]\nname = bad\n\n[model]\nlayers = 2\nvalue = {value}\n")
    with pytest.raises(ConfigError, match=match) as caught:
        HParams(".", name="bad")
    assert (caught.value.path, caught.value.line, caught.value.key) == (
        "hparams.cfg",
        6,
        "model.value",
    )
    assert not storage.exists()


@pytest.mark.timeout(10)
def test_explain_of_a_cfg_with_a_hostile_round_ends_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    write("hparams.cfg", "[run]\nname = bad\n[model]\nx = round(1, -10**8)\n")
    assert cli.main(["explain", "--config=hparams.cfg"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "round() keeps or drops at most 1,235 digits" in err


@pytest.mark.timeout(10)
def test_many_values_each_under_the_limits_share_one_budget_and_are_refused_quickly(
    capsys: pytest.CaptureFixture[str], storage: Path
) -> None:
    """Each value makes a list of about a million elements; 400 of them took minutes before."""
    each = ", ".join(["len([[0] * 999] * 999)"] * 20)
    values = "".join(f"x{i} = [{each}]\n" for i in range(20))
    write("slow.cfg", f"[run]\nname = slow\n[model]\n{values}")
    assert cli.main(["explain", "--config=slow.cfg"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Value of 'model.x0' in config file 'slow.cfg' (line 4) is refused" in err
    assert "values together take more than 4,000,000 steps" in err
    write("hparams.cfg", Path("slow.cfg").read_text())
    with pytest.raises(ConfigError, match="values together") as caught:
        HParams(".", name="slow")
    assert (caught.value.path, caught.value.line, caught.value.key) == (
        "hparams.cfg",
        4,
        "model.x0",
    )
    assert not storage.exists()


def test_a_big_file_of_ordinary_values_is_within_the_work_budget() -> None:
    numbers = ", ".join(str(i / 7) for i in range(100))
    keys = "".join(f"k{i} = [{numbers}]\nw{i} = max(128, 3 * {i}) // 2\n" for i in range(2000))
    big = "[0.5] * 400000"
    data, lines = read_cfg("big.cfg", f"[model]\n{keys}big = {big}\ntext = 'ab' * 100000\n")
    assert len(data["model"]) == 4002
    assert data["model"]["k1999"][99] == 99 / 7
    assert len(data["model"]["big"]) == 400000
    assert lines["model.text"] == 4003


def test_long_integers_count_their_digits_toward_the_size_limit(storage: Path) -> None:
    """A list of long integers would otherwise write (and convert) hundreds of megabytes."""
    write("hparams.cfg", "[run]\nname = bad\n[model]\nx = [2 ** 4095] * 400000\n")
    with pytest.raises(ConfigError, match="about 495,200,000 elements and characters"):
        HParams(".", name="bad")
    assert not storage.exists()


BAD_FILES = [
    pytest.param(
        "[model]\nlayers = 2\n", ConfigError, "has no run.name", None, id="missing-run-name"
    ),
    pytest.param(
        "[run]\nname = a\n[model]\nx = 1\n[model]\ny = 2\n",
        ConfigError,
        r"repeats the section \[model\] \(lines 3 and 5\)",
        5,
        id="duplicate-section",
    ),
    pytest.param(
        "[run]\nname = a\n[model]\nx = 1\nx = 2\n",
        ConfigError,
        r"repeats the key 'model.x' \(lines 4 and 5\)",
        5,
        id="duplicate-key",
    ),
    pytest.param(
        "[run]\nname = a\n[model]\nx = 1\n[model.x]\ny = 2\n",
        ConfigError,
        r"'model.x' as a value \(line 4\) and as a section \(line 5\)",
        5,
        id="value-and-section",
    ),
    pytest.param(
        "[run]\nname = a\n[model]\njust some words\n",
        ConfigError,
        "Line 4 .* is not a '\\[section\\]'",
        4,
        id="not-a-key-line",
    ),
    pytest.param("[run]\nname = a\n[model\n", ConfigError, "no closing", 3, id="unclosed-section"),
    pytest.param(
        "[run]\nname = a\n[m]\nx =\n", ConfigError, "'m.x' .* has no value", 4, id="empty-value"
    ),
    pytest.param(
        "[run]\nname = a\nmy key = 1\n", ConfigError, "'my key' .* is not a name", 3, id="bad-key"
    ),
    pytest.param(
        "[run]\nname = ../up\n",
        RunNameError,
        "Run name '../up' is not allowed",
        None,
        id="unsafe-run-name",
    ),
]


@pytest.mark.parametrize(("text", "error", "match", "line"), BAD_FILES)
def test_bad_file_is_refused_with_its_lines(
    text: str, error: type[Exception], match: str, line: int | None, storage: Path
) -> None:
    write("hparams.cfg", text)
    with pytest.raises(error, match=match) as caught:
        HParams(".", name="bad")
    if line is not None:
        assert caught.value.line == line  # type: ignore[attr-defined]
    assert not storage.exists()


def test_missing_file_names_the_path_and_the_folder_searched(tmp_path: Path, storage: Path) -> None:
    write("configs/hparam.cfg", "[run]\nname = a\n")
    with pytest.raises(ConfigFileNotFoundError, match=r"Did you mean 'hparam\.cfg'") as caught:
        HParams("configs", name="missing")
    assert "'hparams.cfg' not found in" in str(caught.value)
    assert caught.value.searched == [os.path.abspath("configs")]  # type: ignore[attr-defined]
    with pytest.raises(ConfigFileNotFoundError, match="does not exist"):
        HParams("nowhere", name="missing")
    assert not storage.exists()


@pytest.mark.parametrize(
    ("url", "error", "match"),
    [
        pytest.param(
            "gs://bucket/runs", MissingDependencyError, r"gcsfs.*hypertuner\[gcs\]", id="gs-extra"
        ),
        pytest.param(
            "nope://bucket/runs",
            ConfigError,
            r"scheme 'nope://'.*hypertuner\[s3\]",
            id="unknown-scheme",
        ),
    ],
)
def test_backup_url_that_cannot_work_is_refused_before_the_run(
    url: str, error: type[Exception], match: str, storage: Path
) -> None:
    pytest.importorskip("fsspec", reason="backup URLs need fsspec")
    if url.startswith("gs:"):
        try:
            import gcsfs  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("gcsfs is installed here, so gs:// works")
    write("hparams.cfg", "[run]\nname = a\n")
    with pytest.raises(error, match=match):
        HParams(".", name="backup", backup=url)
    assert not storage.exists()


# ---------------------------------------------------------------------------------------------
# HParams


def test_hparams_gives_sections_as_attributes_and_items(storage: Path) -> None:
    write("hparams.cfg", ISSUE_CFG)
    hparams = HParams(".", name="exp")
    assert hparams.model.layers == 4
    assert hparams["model.dropout"] == 0.1
    assert hparams.run.name == "resnet-baseline"
    assert hparams.train["schedule"] == [0.1, 0.01, 0.001]
    assert isinstance(hparams, hypertuner.Args)
    with pytest.raises(UnknownKeyError, match=r"Did you mean 'model\.layers'"):
        hparams.model.layer  # noqa: B018
    with pytest.raises(TypeError, match="read-only"):
        hparams.model.layers = 5
    everything(hparams)


def test_hparams_saves_the_file_and_the_resolved_values(storage: Path) -> None:
    write("hparams.cfg", ISSUE_CFG)
    everything(HParams(".", name="exp"))
    folder = storage / "resnet-baseline"
    assert (folder / "hparams.cfg").read_text() == ISSUE_CFG
    config = json.loads((folder / "config.json").read_text())
    assert config == {
        "model": {"layers": 4, "dropout": 0.1, "width": 192, "activation": "relu"},
        "train": {"batch_size": 64, "schedule": [0.1, 0.01, 0.001]},
    }
    assert hypertuner.current_run().name == "resnet-baseline"


def test_get_hparams_by_name_returns_the_same_instance(storage: Path) -> None:
    write("hparams.cfg", ISSUE_CFG)
    hparams = HParams(".", name="exp")
    assert HParams.get_hparams_by_name("exp") is hparams
    with pytest.raises(KeyError, match=r"No HParams named 'exq' is loaded.*Did you mean 'exp'"):
        HParams.get_hparams_by_name("exq")
    everything(hparams)


def test_second_instance_under_a_loaded_name_is_an_error(storage: Path) -> None:
    write("hparams.cfg", ISSUE_CFG)
    everything(HParams(".", name="exp"))
    with pytest.raises(
        ConfigError, match=r"HParams named 'exp' is already loaded.*get_hparams_by_name"
    ):
        HParams(".", name="exp")


@unread_ok
def test_other_file_and_other_name_load_side_by_side(storage: Path) -> None:
    write("hparams.cfg", ISSUE_CFG)
    write("other.cfg", "[run]\nname = second\n[model]\nlayers = 8\n")
    first = HParams(".", name="exp")
    second = HParams(".", hparams_filename="other", name="exp2")
    third = HParams(".", hparams_filename="other.cfg", name="exp3")  # the same run, shared
    assert (first.model.layers, second.model.layers, third.model.layers) == (4, 8, 8)
    assert HParams.get_hparams_by_name("exp").run.name == "resnet-baseline"
    assert hypertuner.current_run().name == "second"
    assert sorted(hypertuner._layout.list_runs(storage)) == ["resnet-baseline", "second"]


def test_same_run_name_recalls_the_saved_copy_and_says_so_on_one_line(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("hparams.cfg", ISSUE_CFG)
    everything(HParams(".", name="exp"))
    hypertuner.current_run().finish()
    write("hparams.cfg", ISSUE_CFG.replace("layers = 4", "layers = 6"))
    capsys.readouterr()
    recalled = HParams(".", name="again")
    assert recalled.model.layers == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "run 'resnet-baseline' exists" in err
    assert "edits in" in err
    assert "not used" in err
    assert hypertuner.current_run().recalled
    everything(recalled)


def test_the_run_section_holds_user_values_beside_the_settings(storage: Path) -> None:
    """hparams' sample config keeps its own keys in [run]: values like any other, kept in
    config.json; name, storage, resume and backup stay the run settings (text)."""
    write("hparams.cfg", "[run]\nname = 2024\nnb_gpus = 2 * 2\nnote = fast\n[m]\nx = 1\n")
    hparams = HParams(".", name="runkeys")
    assert (hparams.run.name, hparams.run.nb_gpus, hparams.run.note) == ("2024", 4, "fast")
    assert (hparams.nb_gpus, hparams.note) == (4, "fast")  # as hparams' README reads them
    assert list(hparams) == ["run", "m"]
    config = json.loads((storage / "2024" / "config.json").read_text())
    assert config == {"run": {"nb_gpus": 4, "note": "fast"}, "m": {"x": 1}}
    everything(hparams)


def test_names_are_case_insensitive_and_dashes_read_as_underscores(storage: Path) -> None:
    write(
        "hparams.cfg",
        "[run]\nname = case\n[Train-Set]\nLR = 0.1\nBatch-Size = 32\n[data]\nname = 3\n",
    )
    hparams = HParams(".", name="case")
    assert (hparams.train_set.lr, hparams.train_set.LR, hparams.Train_Set.batch_size) == (
        0.1,
        0.1,
        32,
    )
    assert hparams["train_set.LR"] == 0.1
    assert hparams.data.name == "3"  # a key called name is text, in any section
    with pytest.raises(UnknownKeyError, match=r"Did you mean 'train_set.lr'"):
        hparams.train_set.lrr  # noqa: B018
    everything(hparams)


def test_default_keys_are_top_level_and_every_sections_defaults(storage: Path) -> None:
    write("hparams.cfg", "[DEFAULT]\nseed = 7\n[run]\nname = d\n[model]\nlayers = 4\nseed = 1\n")
    hparams = HParams(".", name="defaults")
    assert (hparams.seed, hparams.run.seed, hparams.model.seed) == (7, 7, 1)
    assert list(hparams) == ["run", "model"]
    assert hparams.to_dict() == {
        "run": {"seed": 7, "name": "d"},
        "model": {"seed": 1, "layers": 4},
    }


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param({"gcs_backup_project": "p"}, "GCS bucket must be provided", id="project-only"),
        pytest.param(
            {"gcs_backup_bucket": "b", "backup": "s3://b"}, "name two places", id="two-places"
        ),
    ],
)
def test_gcs_backup_keywords_that_cannot_work_are_refused_before_the_run(
    options: dict[str, str], match: str, storage: Path
) -> None:
    write("hparams.cfg", "[run]\nname = g\n")
    with pytest.raises(ValueError, match=match):
        HParams(".", name="gcs", **options)
    assert not storage.exists()


def test_hparams_values_feed_param_scope_and_auto_param(storage: Path) -> None:
    write("hparams.cfg", "[run]\nname = scoped\n[mlp]\nwidth = 2 * 16\n")

    @auto_param
    def mlp(width: int = 8) -> int:
        return width

    hparams = HParams(".", name="scoped")
    assert mlp() == 32
    with param_scope("mlp.width=4"):
        assert mlp() == 4
    with param_scope() as ps:
        assert ps.mlp.width == 32
    everything(hparams)


def test_parse_reads_cfg_files_and_explains_their_lines(storage: Path) -> None:
    write("hparams.cfg", ISSUE_CFG)
    args = hypertuner.parse(["--config=hparams.cfg", "train.batch_size=32"])
    assert (args.model.width, args.train.batch_size) == (192, 32)
    assert hypertuner.current_run().name == "resnet-baseline"
    res = resolve(["--config=hparams.cfg"])
    assert "hparams.cfg:7" in explain_text(res).splitlines()[3]  # model.width
    args.to_dict()


def test_parse_of_a_bad_cfg_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    write("hparams.cfg", "[run]\nname = a\n[model]\nx = open('f')\n")
    script = write("train.py", "import hypertuner\nhypertuner.parse()\n")
    done = subprocess.run(
        [sys.executable, str(script), "--config=hparams.cfg"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "'model.x' in config file 'hparams.cfg' (line 4)" in done.stderr
    assert not Path("storage").exists()


@pytest.mark.slow
def test_example_trains_from_hparams_cfg_and_recalls_it(tmp_path: Path, storage: Path) -> None:
    """The example as a new user runs it: the run folder, then the recall on a second run."""
    pytest.importorskip("torch", reason="the example trains a torch model")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(EXAMPLE / "train.py")]
    first = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=120, env=env
    )
    assert first.returncode == 0, first.stderr
    assert "run 'cfg-baseline': final loss" in first.stdout
    folder = storage / "cfg-baseline"
    assert (folder / "hparams.cfg").read_text() == (EXAMPLE / "hparams.cfg").read_text()
    assert json.loads((folder / "config.json").read_text())["mlp"]["width"] == 16
    assert json.loads((folder / "meta.json").read_text())["status"] == "finished"
    second = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=120, env=env
    )
    assert second.returncode == 0, second.stderr
    assert "run 'cfg-baseline' exists, so its saved" in second.stderr
