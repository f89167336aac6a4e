"""A griffe extension for the docs build: read Google-style ``Example:`` sections (this project's
spelling, see STYLE.md) as examples, as ``Examples:`` are, so their doctests render as code."""

from __future__ import annotations

from griffe import Extension
from griffe._internal.docstrings import google
from griffe._internal.enumerations import DocstringSectionKind

google._section_kind.setdefault("example", DocstringSectionKind.examples)


class ExampleSections(Extension):
    """Nothing to do per object: importing this module registered the section name."""
