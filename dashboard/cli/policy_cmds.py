"""Commands of one area (stub: filled in by the area's owner)."""

import typer


def register(app: typer.Typer) -> None:
    pass
