"""``hypertuner ui``: a local web page to browse, compare, edit and launch runs.

The page is served by the standard library's HTTP server (:mod:`hypertuner.ui.server`) from
three static files shipped in ``hypertuner/ui/static/``; it reads runs through
:mod:`hypertuner.compare`, the same reader the ``hypertuner`` command uses, and edits and
launches runs through :mod:`hypertuner.ui.edit`.
"""
