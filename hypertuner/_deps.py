"""Import optional packages, naming the extra to install when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``.

    Example:
        >>> require("json", "core", "Reading configs").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name != top and not exc.name.startswith(top + "."):
            raise  # the package is there but something it imports is broken: keep the cause
        msg = f"{feature} needs {top}, which is not installed: pip install 'hypertuner[{extra}]'."
        raise MissingDependencyError(msg, module=module, extra=extra) from None
