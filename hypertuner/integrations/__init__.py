"""Integrations with training frameworks; import each by its full path."""
