"""Operational commands, run as `python -m app.commands.<name>`."""
