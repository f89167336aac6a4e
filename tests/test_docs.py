"""Every code block of the documentation runs: the guides in docs/ are tested as a user reads them.

A page's blocks run in order, in a fresh folder, as the reader would type them:

- a ``python`` block runs in one interpreter shared by the page's blocks;
- a block with a ``title="path"`` (``python``, ``json``, ``yaml``, ``ini``) is a file: it is written
  there, and a later block uses it;
- in a ``console`` block, each line starting with ``$`` is a command run by the shell; it must exit
  0, unless the line ends with ``# exits N``; a line ending with ``# not run here`` (a server
  that runs until stopped, a cluster) is skipped; ``python`` and ``hypertuner`` are this test
  environment's.

Blocks of any other language (``text``, ``ini`` without a title) are shown, not run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S
)
TITLE = re.compile(r'title="(?P<title>[^"]+)"')
EXITS = re.compile(r"#\s*exits (?P<code>\d+)\s*$")

pytestmark = pytest.mark.slow  # the guides train models and run sweeps, as a user does


def _blocks_of(text: str) -> list[tuple[str, str | None, str]]:
    found = []
    for match in FENCE.finditer(text):
        info = match.group("info").strip()
        language = info.split()[0] if info else ""
        title = TITLE.search(info)
        body = textwrap.dedent(match.group("body"))
        found.append((language, title.group("title") if title else None, body))
    return found


def _blocks(page: Path) -> list[tuple[str, str | None, str]]:
    """(language, title, code) for each fenced block of ``page``, in order."""
    return _blocks_of(page.read_text(encoding="utf-8"))


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if _blocks(p))


def _run_page(page: Path, folder: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HYPERTUNER_STORAGE": str(folder / "storage"),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    python_blocks: list[str] = []

    def flush() -> None:
        if not python_blocks:
            return
        program = "\n\n".join(python_blocks)
        python_blocks.clear()
        done = subprocess.run(
            [sys.executable, "-c", program],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{page.name}: a python block failed:\n{done.stderr[-3000:]}"

    for language, title, code in _blocks(page):
        if title is not None:
            target = folder / title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code, encoding="utf-8")
        elif language == "python":
            python_blocks.append(code)
        elif language == "console":
            flush()  # the shell sees what the python blocks before it wrote
            for line in code.splitlines():
                if not line.startswith("$ ") or line.rstrip().endswith("# not run here"):
                    continue
                command = line[2:]
                expected = EXITS.search(command)
                shell = command.split("#", 1)[0].strip() if expected else command
                done = subprocess.run(
                    ["bash", "-c", shell],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                code_wanted = int(expected.group("code")) if expected else 0
                assert done.returncode == code_wanted, (
                    f"{page.name}: `{shlex.quote(command)}` exited {done.returncode}:\n"
                    f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
                )
    flush()


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_every_code_block_of_the_page_runs(page: Path, tmp_path: Path) -> None:
    _run_page(page, tmp_path)


def test_the_docs_have_pages_with_code() -> None:
    assert len(_pages()) >= 8


def test_the_readme_plain_pytorch_script_runs_and_saves(tmp_path: Path) -> None:
    """The README's 'use it in your project' script, as a user copies it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    script = next(code for language, _, code in _blocks_of(readme) if "attach(" in code)
    (tmp_path / "train.py").write_text(script, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "train.py", "steps=30", "--name=readme"],
        cwd=tmp_path,
        env={**os.environ, "HYPERTUNER_STORAGE": str(tmp_path / "storage")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "storage" / "readme" / "model.pt").is_file()
