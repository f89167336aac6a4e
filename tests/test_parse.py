"""parse() / Args: config files, overrides, defaults, interpolation, --explain, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

import hypertuner
from hypertuner.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    HypertunerError,
    RunNameError,
    UnknownKeyError,
)
from tests.conftest import write

BASE = {"learning_rate": 0.1, "momentum": 0.9, "model": {"layers": 2, "width": 64}, "tags": [1, 2]}


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return write(Path("configs/base.json"), json.dumps(BASE, indent=2))


def test_args_has_attribute_item_in_iteration_and_dict_export(base: Path) -> None:
    args = hypertuner.parse(["--config", str(base)])
    assert args.learning_rate == 0.1
    assert args.model.layers == 2
    assert args["model"]["width"] == 64
    assert args["model.width"] == 64
    assert "model.layers" in args
    assert "model.depth" not in args
    assert list(args) == ["learning_rate", "momentum", "model", "tags"]
    assert args.to_dict() == BASE
    assert dict(**args)["momentum"] == 0.9


def test_args_constructor_is_parse(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", f"--config={base}", "momentum=0.5"])
    args = hypertuner.Args()
    assert isinstance(args, hypertuner.Args)
    assert args.momentum == 0.5


def test_config_files_merge_left_to_right_and_lists_are_replaced(base: Path) -> None:
    write("configs/big.json", '{"model": {"layers": 8}, "tags": [3]}')
    args = hypertuner.parse([f"--config={base}", "--config", "configs/big.json"])
    assert args.model.to_dict() == {"layers": 8, "width": 64}
    assert args.tags == [3]


def test_yaml_config_loads_with_yaml_scalars(tmp_path: Path) -> None:
    write("cfg.yaml", "train:\n  lr: 1e-3\n  nesterov: true\nname: x\n")
    args = hypertuner.parse(["--config=cfg.yaml"])
    assert args.train.lr == 0.001
    assert args.train.nesterov is True


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param("model.layers=4", 4, id="int"),
        pytest.param("model.layers=1e-3", 0.001, id="float-exponent"),
        pytest.param("model.layers=0.5", 0.5, id="float"),
        pytest.param("model.layers=true", True, id="bool"),
        pytest.param("model.layers=[1,2]", [1, 2], id="list"),
        pytest.param("model.layers={a: 1}", {"a": 1}, id="mapping"),
        pytest.param("model.layers=relu", "relu", id="string"),
        pytest.param("model.layers='4'", "4", id="quoted-string"),
        pytest.param("model.layers=null", None, id="null"),
        pytest.param("model.layers=", "", id="empty-string"),
    ],
)
def test_override_values_are_typed_as_yaml_scalars(
    base: Path, token: str, expected: object
) -> None:
    args = hypertuner.parse([f"--config={base}", token])
    assert args.to_dict()["model"]["layers"] == expected
    assert type(args.to_dict()["model"]["layers"]) is type(expected)


def test_plus_override_adds_a_new_key(base: Path) -> None:
    args = hypertuner.parse([f"--config={base}", "+optim.name=adam", "+seed=3"])
    assert args.optim.name == "adam"
    assert args.seed == 3


def test_unknown_override_suggests_nearest_key(base: Path) -> None:
    with pytest.raises(UnknownKeyError) as info:
        hypertuner.parse([f"--config={base}", "learning_rat=0.2"])
    assert info.value.suggestions == ["learning_rate"]
    assert str(info.value) == (
        "Unknown key 'learning_rat' in override 'learning_rat=0.2'. Did you mean "
        "'learning_rate'? Use '+learning_rat=0.2' to add it."
    )


def test_defaults_dict_is_the_lowest_layer(base: Path) -> None:
    args = hypertuner.parse(
        [f"--config={base}", "epochs=3"], defaults={"epochs": 1, "momentum": 0.0, "seed": 7}
    )
    assert (args.epochs, args.momentum, args.seed) == (3, 0.9, 7)


@dataclasses.dataclass
class Model:
    layers: int = 2
    activation: Literal["relu", "tanh"] = "relu"


@dataclasses.dataclass
class Settings:
    lr: float = 0.1
    name: str = "base"
    tags: list[int] = dataclasses.field(default_factory=list)
    model: Model = dataclasses.field(default_factory=Model)
    dropout: float | None = None


def test_dataclass_defaults_are_type_checked_and_widened() -> None:
    args = hypertuner.parse(
        ["lr=1", "model.layers=4", "tags=[1,2]", "name=2024"], defaults=Settings
    )
    assert args.lr == 1.0
    assert isinstance(args.lr, float)
    assert args.model.layers == 4
    assert args.tags == [1, 2]
    assert args.name == "2024"
    assert args.dropout is None


def test_dataclass_instance_gives_defaults() -> None:
    args = hypertuner.parse([], defaults=Settings(lr=0.5))
    assert args.lr == 0.5
    assert args.model.activation == "relu"


def test_dataclass_type_mismatch_names_key_type_and_value() -> None:
    with pytest.raises(ConfigError) as info:
        hypertuner.parse(["model.layers=four"], defaults=Settings)
    err = info.value
    assert err.key == "model.layers"
    assert err.value == "four"
    assert str(err) == (
        "Key 'model.layers' expects int, got 'four' (str), set by command line 'model.layers=four'."
    )


def test_dataclass_rejects_unknown_key_in_config_file_with_line(tmp_path: Path) -> None:
    write("c.json", '{\n  "lr": 0.2,\n  "modle": {"layers": 3}\n}\n')
    with pytest.raises(
        UnknownKeyError, match=r"'modle' in config file 'c.json' \(line 3\)"
    ) as info:
        hypertuner.parse(["--config=c.json"], defaults=Settings)
    assert info.value.suggestions == ["model"]
    assert info.value.line == 3


def test_dataclass_field_without_default_must_be_set() -> None:
    @dataclasses.dataclass
    class Needs:
        data_dir: str

    with pytest.raises(ConfigError, match=r"Key 'data_dir' has no value"):
        hypertuner.parse([], defaults=Needs)
    assert hypertuner.parse(["data_dir=/data"], defaults=Needs).data_dir == "/data"


def test_interpolation_is_resolved_in_args_and_snapshot(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HT_TEST_ROOT", "/data")
    write(
        "c.json",
        '{"model": {"width": 64, "hidden": "${model.width}"}, "root": "${oc.env:HT_TEST_ROOT}"}',
    )
    args = hypertuner.parse(["--config=c.json", "model.width=32", "--name=interp"])
    assert args.model.hidden == 32
    assert args.root == "/data"
    saved = json.loads((storage / "interp" / "config.json").read_text())
    assert saved == {"model": {"width": 32, "hidden": 32}, "root": "/data"}


def test_interpolation_of_a_missing_key_is_a_config_error() -> None:
    write("c.json", '{"a": "${nope.x}"}')
    with pytest.raises(ConfigError, match=r"Interpolation failed in key 'a' \(set by c.json:1\)"):
        hypertuner.parse(["--config=c.json"])


def test_explain_prints_value_and_layer_then_exits(
    base: Path, capsys: pytest.CaptureFixture[str], storage: Path
) -> None:
    write("configs/big.json", '{\n  "model": {\n    "layers": 8\n  }\n}\n')
    with pytest.raises(SystemExit) as info:
        hypertuner.parse(
            [f"--config={base}", "--config=configs/big.json", "momentum=0.5", "--explain"],
            defaults={"seed": 1},
        )
    assert info.value.code == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out[1:]}
    assert rows["momentum"].endswith("command line 'momentum=0.5'")
    assert rows["model.layers"].endswith("configs/big.json:3")
    assert rows["model.width"].endswith(f"{base}:6")
    assert rows["seed"].endswith("defaults")
    assert not storage.exists()


def test_cli_explain_prints_the_same_table(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hypertuner import cli

    assert cli.main(["explain", f"--config={base}", "learning_rate=0.2"]) == 0
    out = capsys.readouterr().out
    assert "learning_rate  0.2" in out
    assert "command line 'learning_rate=0.2'" in out


def test_name_and_storage_shorthands(base: Path, tmp_path: Path) -> None:
    hypertuner.parse([f"--config={base}", "--name=big-lr01", f"--storage={tmp_path / 'runs'}"])
    run = hypertuner.current_run()
    assert run is not None
    assert run.name == "big-lr01"
    assert run.directory == tmp_path / "runs" / "big-lr01"


def test_run_section_sets_run_settings_and_is_not_in_config(base: Path, storage: Path) -> None:
    args = hypertuner.parse([f"--config={base}", "run.name=from-override"])
    assert "run" not in args
    assert hypertuner.current_run().name == "from-override"
    assert "run" not in json.loads((storage / "from-override" / "config.json").read_text())


def test_relative_config_is_found_next_to_the_script(tmp_path: Path) -> None:
    folder = tmp_path / "some" / "dir"
    write(folder / "cfg.json", '{"lr": 0.3}')
    write(folder / "train.py", "import hypertuner\nprint(hypertuner.parse().lr)\n")
    done = subprocess.run(
        [sys.executable, str(folder / "train.py"), "--config=cfg.json", "--name=t"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.3"


def test_unknown_flag_is_an_error_but_not_when_strict_is_off(base: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown option '--epochs'"):
        hypertuner.parse([f"--config={base}", "--epochs", "3"])
    args = hypertuner.parse([f"--config={base}", "--epochs", "3"], strict=False)
    assert args.momentum == 0.9


def test_parse_known_returns_the_tokens_it_left(base: Path) -> None:
    args, rest = hypertuner.parse_known([f"--config={base}", "--gpus", "2", "momentum=0.1"])
    assert args.momentum == 0.1
    assert rest == ["--gpus", "2"]


def test_flag_named_like_a_key_suggests_the_override(base: Path) -> None:
    with pytest.raises(ConfigError, match=r"Config keys are set without dashes: 'learning_rate=3'"):
        hypertuner.parse([f"--config={base}", "--learning-rate=3"])


def test_command_line_error_is_one_line_on_stderr_and_exit_2(
    base: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], storage: Path
) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", f"--config={base}", "momentun=0.1"])
    with pytest.raises(SystemExit) as info:
        hypertuner.parse()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("train.py: error: Unknown key 'momentun'")
    assert not storage.exists()


def test_help_lists_the_options_and_keys(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        hypertuner.parse([f"--config={base}", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--config PATH" in out
    assert "model.layers" in out


def test_help_lists_the_keys_that_auto_param_functions_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script whose config comes from @auto_param defaults: --help shows those keys too."""
    script = write(
        tmp_path / "train.py",
        "import hypertuner\n"
        "@hypertuner.auto_param\n"
        "def mlp(width=32, activation='relu'):\n"
        "    return width\n"
        "args = hypertuner.parse(defaults={'lr': 0.1, 'mlp': {'width': 64}})\n",
    )
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "  lr=0.1" in lines  # the config's keys, as resolved
    assert "  mlp.width=64" in lines
    assert "keys that @auto_param functions read (their inline defaults):" in lines
    assert "  mlp.activation=relu" in lines
    assert "  mlp.width=32" not in lines  # the config sets it: shown once, with its value


AUTO_PARAM_SCRIPT = """
import hypertuner

@hypertuner.auto_param
def mlp(width=32, activation="relu", dropout=0.5):
    return width, activation, dropout

args = hypertuner.parse(defaults={"lr": 0.1, "optim": {"momentum": 0.9, "nesterov": True}})
print(*mlp())
"""


def _script_run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    if not script.exists():
        write(script, AUTO_PARAM_SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), *argv], capture_output=True, text=True, check=False,
        cwd=tmp_path,
    )  # fmt: skip


def test_the_keys_auto_param_functions_read_are_set_like_config_keys(tmp_path: Path) -> None:
    """--help lists them, so key=value sets them (no '+'), --explain shows them."""
    done = _script_run(tmp_path, "mlp.width=64", "mlp.activation=tanh", "--name=w64")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["64", "tanh", "0.5"]
    config = json.loads((tmp_path / "storage/w64/config.json").read_text())
    assert config["mlp"] == {"width": 64, "activation": "tanh"}  # saved with the run
    explained = _script_run(tmp_path, "mlp.width=64", "--explain")
    assert "mlp.width" in explained.stdout
    assert "command line 'mlp.width=64'" in explained.stdout


def test_a_misspelt_auto_param_key_is_refused_with_the_nearest_one(tmp_path: Path) -> None:
    done = _script_run(tmp_path, "mlp.activaton=tanh", "--name=typo")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "train.py: error: Unknown key 'mlp.activaton' in override 'mlp.activaton=tanh'. Did you "
        "mean 'mlp.activation'? Use '+mlp.activaton=tanh' to add it."
    ]
    assert not (tmp_path / "storage/typo").exists()


def test_an_auto_param_override_of_the_wrong_type_fails_before_the_run_starts(
    tmp_path: Path,
) -> None:
    done = _script_run(tmp_path, "mlp.width=six", "--name=bad")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "'mlp.width' is 'six', which is not a valid int" in line
    assert "in override 'mlp.width=six'" in line
    assert not (tmp_path / "storage/bad").exists()  # no run was started, none left failed


def test_an_override_may_not_replace_a_section_with_one_value(base: Path) -> None:
    with pytest.raises(ConfigError, match=r"would replace the section 'model' \(model.layers, "
                       r"model.width\) with a single value: set one of its keys"):  # fmt: skip
        hypertuner.parse([f"--config={base}", "model=3"])
    args = hypertuner.parse([f"--config={base}", "model={layers: 3}"])  # a whole section
    assert args.model.to_dict() == {"layers": 3}


def test_an_unknown_key_is_pointed_to_the_nearest_key_not_to_its_section(base: Path) -> None:
    with pytest.raises(UnknownKeyError) as info:
        hypertuner.parse([f"--config={base}", "model.layrs=3"])
    assert info.value.suggestions[0] == "model.layers"
    assert "model" not in info.value.suggestions  # a section is no key to set


@pytest.mark.parametrize("option", ["--explain", "--help"])
def test_explain_and_help_into_a_closed_pipe_end_quietly(tmp_path: Path, option: str) -> None:
    write(tmp_path / "train.py", AUTO_PARAM_SCRIPT)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, str(tmp_path / "train.py"), option], stdout=write_end,
            stderr=subprocess.PIPE, text=True, check=False, cwd=tmp_path,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == ""


def test_args_are_read_only(base: Path) -> None:
    args = hypertuner.parse([f"--config={base}"])
    with pytest.raises(TypeError, match=r"Args are read-only: set 'model.layers'"):
        args.model.layers = 3


def test_missing_attribute_suggests_and_keeps_hasattr_working(base: Path) -> None:
    args = hypertuner.parse([f"--config={base}"])
    assert not hasattr(args, "momentun")
    with pytest.raises(UnknownKeyError, match=r"Did you mean 'model.layers'\?"):
        _ = args.model.layer
    assert args.get("model.depth", 5) == 5


def test_args_pickle_round_trip(base: Path) -> None:
    import pickle

    args = hypertuner.parse([f"--config={base}"])
    again = pickle.loads(pickle.dumps(args))
    assert again == args
    assert again.model.width == 64


def _alias_bomb(levels: int, width: int) -> str:
    """A YAML "billion laughs": each level a list of ``width`` aliases of the level below."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


BAD_INPUTS = [
    pytest.param(
        {"c.json": '{\n  "a": 1,\n  "b": 2,\n}\n'},
        ["--config=c.json"],
        ConfigError,
        r"Config file 'c.json' is not valid JSON \(line 4, column 1\): expecting property name",
        id="json-trailing-comma",
    ),
    pytest.param(
        {"c.json": '{"a": 1,\n "a": 2}'},
        ["--config=c.json"],
        ConfigError,
        r"Config file 'c.json' repeats the key 'a' \(lines 1, 2\)",
        id="json-duplicate-key",
    ),
    pytest.param(
        {"c.json": '{"m": {"a": 1,\n  "a": 2}}'},
        ["--config=c.json"],
        ConfigError,
        r"repeats the key 'm.a' \(lines 1, 2\)",
        id="json-duplicate-nested-key",
    ),
    pytest.param(
        {"c.json": '{"a": 1,\n "b": NaN}'},
        ["--config=c.json"],
        ConfigError,
        r"uses NaN \(line 2\), which JSON does not allow",
        id="json-nan",
    ),
    pytest.param(
        {"c.json": '{"a": Infinity}'},
        ["--config=c.json"],
        ConfigError,
        r"uses Infinity \(line 1\)",
        id="json-infinity",
    ),
    pytest.param(
        {"c.json": "  \n"},
        ["--config=c.json"],
        ConfigError,
        r"Config file 'c.json' is empty",
        id="empty-file",
    ),
    pytest.param(
        {"c.json": "[1, 2]"},
        ["--config=c.json"],
        ConfigError,
        r"Config file 'c.json' holds a list at the top level",
        id="top-level-list",
    ),
    pytest.param(
        {"c.yaml": "a: 1\nb: [1, 2\n"},
        ["--config=c.yaml"],
        ConfigError,
        r"Config file 'c.yaml' is not valid YAML \(line 3, column 1\)",
        id="yaml-malformed",
    ),
    pytest.param(
        {"c.yaml": "a: 1\nb: 2\na: 3\n"},
        ["--config=c.yaml"],
        ConfigError,
        r"repeats the key 'a' \(lines 1 and 3\)",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        {"c.yaml": "a: .nan\n"},
        ["--config=c.yaml"],
        ConfigError,
        r"sets 'a' to nan, which the JSON snapshot cannot store",
        id="yaml-nan",
    ),
    pytest.param(
        {"c.toml": "a = 1\n"},
        ["--config=c.toml"],
        ConfigError,
        r"has the extension '.toml'; hypertuner reads .json, .yaml",
        id="unknown-extension",
    ),
    pytest.param(
        {},
        ["--config=missing.json"],
        ConfigFileNotFoundError,
        r"Config file 'missing.json' not found \(looked in '.*work'",
        id="missing-file",
    ),
    pytest.param(
        {}, ["lr"], ConfigError, r"Override 'lr' has no '='", id="override-without-equals"
    ),
    pytest.param(
        {}, ["=3"], ConfigError, r"Override '=3' has an empty key", id="override-empty-key"
    ),
    pytest.param(
        {},
        ["+a=[1,2"],
        ConfigError,
        r"Override '\+a=\[1,2': Value '\[1,2' is not a valid list",
        id="override-unclosed-list",
    ),
    pytest.param(
        {},
        ["+a b=1"],
        ConfigError,
        r"has the key 'a b', which is not a dotted name",
        id="override-bad-key",
    ),
    pytest.param(
        {"configs/base.json": "{}"},
        ["--config=configs"],
        ConfigError,
        r"Config file 'configs' is a folder \(it holds base.json\): give one file in it",
        id="config-is-a-folder",
    ),
    pytest.param(
        {},
        ["+" + ".".join(["a"] * 5000) + "=1"],
        ConfigError,
        r"nests more than 100 levels deep, as no config file may",
        id="override-key-too-deep",
    ),
    pytest.param(
        {"c.json": '{"lr": 0.1}'},
        ["--config=c.json", "lr.x=1"],
        UnknownKeyError,
        r"Unknown key 'lr.x' in override 'lr.x=1'",
        id="override-into-a-value",
    ),
    pytest.param(
        {"c.json": '{"lr": 0.1}'},
        ["--config=c.json", "+lr.x=1"],
        ConfigError,
        r"'lr' is a value \(0.1\), not a section",
        id="add-under-a-value",
    ),
    pytest.param(
        {},
        ["--storage=s3://bucket/runs"],
        ConfigError,
        r"Storage 's3://bucket/runs' is a URL, but runs are written to a local folder",
        id="storage-url",
    ),
    pytest.param(
        {}, ["--name=a/b"], RunNameError, r"Run name 'a/b' is not allowed", id="name-slash"
    ),
    pytest.param(
        {}, ["--name=.."], RunNameError, r"Run name '..' is not allowed", id="name-dotdot"
    ),
    pytest.param(
        {}, ["--name=.hidden"], RunNameError, r"not starting with '.'", id="name-leading-dot"
    ),
    pytest.param({}, ["--name=a b"], RunNameError, r"use letters, digits", id="name-space"),
    pytest.param(
        {},
        ["run.name=-x"],
        RunNameError,
        r"Run name '-x' is not allowed: .*not starting with '.' or '-'",
        id="name-leading-dash",
    ),
    pytest.param(
        {},
        ["run.resume=maybe"],
        ConfigError,
        r"run.resume must be one of 'recall', 'refuse', 'new'",
        id="bad-resume",
    ),
    pytest.param(
        {},
        ["run.nmae=x"],
        UnknownKeyError,
        r"Unknown key 'run.nmae'.*Did you mean 'run.name'",
        id="unknown-run-key",
    ),
    pytest.param(
        {"c.json": '{"run": 3}'},
        ["--config=c.json"],
        ConfigError,
        r"The top-level key 'run' is reserved",
        id="run-not-a-section",
    ),
    pytest.param(
        {},
        ["--config"],
        ConfigError,
        r"Argument --config: expected one argument",
        id="config-without-path",
    ),
    pytest.param(
        {},
        ["--nmae=x"],
        ConfigError,
        r"Unknown option '--nmae'. Did you mean '--name'\?",
        id="unknown-flag",
    ),
    pytest.param(
        {"c.json": '{"train": {"lr": 0.1}}'},
        ["--config=c.json", "--lr=3"],
        ConfigError,
        r"Unknown option '--lr'. Config keys are set without dashes: 'train.lr=3'.",
        id="flag-for-a-nested-key",
    ),
    pytest.param(
        {"c.json": '{"train": {"lr": 0.1}}'},
        ["--config=c.json", "--momentum=0.9"],
        ConfigError,
        r"Unknown option '--momentum'. .* write '\+momentum=0.9' to add it.",
        id="flag-for-a-new-key",
    ),
    # Hostile input: each is one clear line, quickly, and nothing is written.
    pytest.param(
        {"bomb.yaml": _alias_bomb(9, 9)},
        ["--config=bomb.yaml"],
        ConfigError,
        r"'bomb.yaml' is refused \(line \d+\): its aliases .* expand to more than 100,000 values",
        id="yaml-alias-bomb",
    ),
    pytest.param(
        {"deep.json": "[" * 10_000 + "]" * 10_000},
        ["--config=deep.json"],
        ConfigError,
        r"'deep.json' nests more than 100 levels deep",
        id="json-10000-deep",
    ),
    pytest.param(
        {"deep.json": '{"a": ' + "[" * 150 + "]" * 150 + "}"},
        ["--config=deep.json"],
        ConfigError,
        r"'deep.json' nests more than 100 levels deep \(at 'a(\[0\])+'\)",
        id="json-150-deep",
    ),
    pytest.param(
        {"deep.yaml": "a: " + "[" * 10_000 + "]" * 10_000 + "\n"},
        ["--config=deep.yaml"],
        ConfigError,
        r"'deep.yaml' nests more than 100 levels deep",
        id="yaml-10000-deep",
    ),
    pytest.param(
        {"big.json": '{\n  "n": ' + "7" * 5000 + "\n}\n"},
        ["--config=big.json"],
        ConfigError,
        r"'big.json' has an integer of 5,000 digits \(line 2\)",
        id="json-5000-digits",
    ),
    pytest.param(
        {"big.yaml": "n: " + "7" * 5000 + "\n"},
        ["--config=big.yaml"],
        ConfigError,
        r"'big.yaml' has an integer of more than 4,300 digits",
        id="yaml-5000-digits",
    ),
    pytest.param(
        {},
        ["+n=" + "7" * 5000],
        ConfigError,
        r"has 5,000 digits, more than the 4,300 an integer may have",
        id="override-5000-digits",
    ),
    pytest.param(
        {"inf.json": '{\n  "lr": 1e999\n}\n'},
        ["--config=inf.json"],
        ConfigError,
        r"'inf.json' has the number 1e999, which overflows to inf \(line 2\)",
        id="json-1e999",
    ),
    pytest.param(
        {},
        ["+lr=1e999"],
        ConfigError,
        r"Override '\+lr=1e999': Value '1e999' is not a finite number",
        id="override-1e999",
    ),
    pytest.param(
        {},
        ["+lr=[1, 1e999]"],
        ConfigError,
        r"sets '\[1\]' to inf, which the JSON snapshot cannot store",
        id="override-list-1e999",
    ),
    pytest.param(
        {"s.json": '{"name": "a\\ud800b"}'},
        ["--config=s.json"],
        ConfigError,
        r"'s.json' has text at 'name' that is not valid Unicode \(a lone surrogate",
        id="json-lone-surrogate",
    ),
    pytest.param(
        {"s.json": '{"\\udc80": 1}'},
        ["--config=s.json"],
        ConfigError,
        r"'s.json' has a key at '\\udc80' that is not valid Unicode",
        id="json-surrogate-key",
    ),
    pytest.param(
        {},
        ["+name=a\udcffb"],
        ConfigError,
        r"is not valid Unicode \(a lone surrogate '\\udcff' at character 2\)",
        id="override-surrogate",
    ),
    pytest.param(
        {"k.yaml": "? [a, b]\n: 1\n"},
        ["--config=k.yaml"],
        ConfigError,
        r"'k.yaml' is not valid YAML \(line 1, column 3\): has a key that is a list",
        id="yaml-list-key",
    ),
    pytest.param(
        {"t.yaml": "tags: !!set {a, b}\n"},
        ["--config=t.yaml"],
        ConfigError,
        r"'t.yaml' sets 'tags' to a set \(.*\), which the JSON snapshot cannot store",
        id="yaml-set",
    ),
    pytest.param(
        {"t.yaml": "blob: !!binary aGVsbG8=\n"},
        ["--config=t.yaml"],
        ConfigError,
        r"'t.yaml' sets 'blob' to binary \(b'hello'\), which the JSON snapshot",
        id="yaml-binary",
    ),
    pytest.param(
        {"t.yaml": "when: !!timestamp 2024-01-02 03:04:05\n"},
        ["--config=t.yaml"],
        ConfigError,
        r"'t.yaml' sets 'when' to a date and time \(.*\), which the JSON snapshot cannot",
        id="yaml-explicit-timestamp",
    ),
]


@pytest.mark.parametrize(("files", "argv", "error", "match"), BAD_INPUTS)
@pytest.mark.timeout(20)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    files: dict[str, str], argv: list[str], error: type[HypertunerError], match: str, storage: Path
) -> None:
    for name, text in files.items():
        write(name, text)
    with pytest.raises(error, match=match):
        hypertuner.parse(argv)
    assert not storage.exists()
    assert hypertuner.current_run() is None


def test_hypertuner_explain_looks_for_configs_in_the_current_folder_only(tmp_path: Path) -> None:
    """The command's own folder says nothing about where the user's configs are."""
    done = subprocess.run(
        [sys.executable, "-m", "hypertuner", "explain", "--config=nope.json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"hypertuner: error: Config file 'nope.json' not found (looked in {str(tmp_path)!r}).\n"
    )


def test_a_yaml_date_stays_the_text_it_was_written_as_so_a_rerun_is_accepted(storage: Path) -> None:
    """YAML 1.1 reads 2024-01-02 as a date, which config.json would turn into text: hypertuner
    keeps the text (YAML 1.2's reading), so args and config.json agree and a rerun is no change."""
    write("d.yaml", "since: 2024-01-02\nat: 2024-01-02 03:04:05\n")
    args = hypertuner.parse(["--config=d.yaml", "--name=dated"], defaults={})
    assert (args.since, args.at) == ("2024-01-02", "2024-01-02 03:04:05")
    saved = json.loads((storage / "dated" / "config.json").read_text())
    assert saved == {"since": "2024-01-02", "at": "2024-01-02 03:04:05"}
    hypertuner.current_run().finish()
    again = hypertuner.parse(["--config=d.yaml", "--name=dated"], defaults={})
    assert again.since == "2024-01-02"


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--config=bomb.yaml"], id="alias-bomb"),
        pytest.param(["+n=" + "9" * 5000], id="5000-digits"),
        pytest.param(["--config=deep.json"], id="deep-json"),
    ],
)
@pytest.mark.timeout(30)
def test_hostile_input_on_the_command_line_is_one_line_and_exit_2(
    argv: list[str], tmp_path: Path
) -> None:
    write(tmp_path / "bomb.yaml", _alias_bomb(9, 9))
    write(tmp_path / "deep.json", "[" * 10_000 + "]" * 10_000)
    done = subprocess.run(
        [sys.executable, "-m", "hypertuner", "explain", *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=25,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("hypertuner: error: "), done.stderr
    assert not (tmp_path / "storage").exists()
