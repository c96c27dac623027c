"""Terminal output: readable tables (rich), Markdown tables, JSON, and progress.

Results go to stdout; progress, warnings and errors to stderr, so ``--format json`` output
can be piped. On a terminal a spinner shows the engine's latest line; in CI (no terminal)
each long step prints one line when it starts and one when it ends, with its duration.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


def _width(stream: object) -> int | None:
    """Terminals report their width; CI logs get a wide default instead of 80 columns."""
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return None
    return int(os.environ.get("COLUMNS", "160"))


@cache
def _out() -> Console:
    return Console(soft_wrap=True, width=_width(sys.stdout))


@cache
def _err() -> Console:
    return Console(stderr=True, soft_wrap=True, width=_width(sys.stderr))


def table(title: str | None, header: Sequence[str], rows: Sequence[Sequence[str]], *,
          styles: dict[int, str] | None = None) -> None:
    grid = Table(title=title, title_justify="left", header_style="bold", show_lines=False)
    for index, name in enumerate(header):
        longest = max([len(str(r[index])) for r in rows if index < len(r)] + [len(name)])
        grid.add_column(name, style=(styles or {}).get(index), overflow="fold", min_width=min(longest, 12))
    for row in rows:
        grid.add_row(*(escape(str(c)) for c in row))
    _out().print(grid)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def emit(fmt: Format, title: str | None, header: Sequence[str], rows: Sequence[Sequence[str]], data: Any) -> None:
    if fmt is Format.json:
        print_json(data)
    elif fmt is Format.markdown:
        if title:
            _out().print(f"### {title}\n", markup=False, highlight=False)
        _out().print(markdown_table(header, rows), markup=False, highlight=False)
    else:
        table(title, header, rows)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def say(text: str) -> None:
    """A line of result on stdout (markup allowed)."""
    _out().print(text, highlight=False)


def note(text: str) -> None:
    _err().print(text, highlight=False)


def error(message: str, *, hint: str | None = None, details: str | None = None) -> None:
    err = _err()
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if hint:
        err.print(f"  [yellow]fix:[/] {escape(hint)}", highlight=False)
    if details:
        for line in details.strip().splitlines()[-25:]:
            err.print(f"  [dim]{escape(line)}[/]", highlight=False)


@contextmanager
def progress(what: str) -> Iterator[Callable[[str], None]]:
    """Show progress of a long step; yields a callback for the engine's output lines."""
    start = time.monotonic()
    err = _err()
    if err.is_terminal:
        with err.status(f"{escape(what)}…") as status:
            def update(line: str) -> None:
                line = line.strip()
                if line:
                    status.update(f"{escape(what)}… [dim]{escape(line[:100])}[/]")
            yield update
    else:
        note(f"→ {what}…")

        def ignore(_: str) -> None:
            return None
        yield ignore
    note(f"[green]✓[/] {escape(what)} ({time.monotonic() - start:.1f}s)")


# --- rendering a command's result: one path for every command ----------------------------------

@dataclass
class Grid:
    """One table of a result (text: a rich table; markdown: a Markdown table)."""

    title: str | None
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass
class View:
    """How a result shows: its tables and lines in text and Markdown, its JSON, its exit code."""

    grids: list[Grid] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    """Result lines after the tables (text and Markdown only; rich markup allowed)."""
    raw: str | None = None
    """Written to stdout as it is instead of tables and lines (a Markdown comment, a list of stacks)."""
    json: Any = None
    """What ``--format json`` prints (default: the result's ``as_dict()``)."""
    exit_code: int = 0
    error: Exception | None = None
    """An ``OpsError`` to report after the output (``record --check``)."""


class Result(Protocol):
    """What every command's ``run(project, ...)`` returns."""

    def as_dict(self) -> Any: ...

    def view(self) -> View: ...


def render(fmt: Format, result: Result) -> View:
    """Print ``result`` in ``fmt``; return its view (the caller turns its exit code into one)."""
    shown = result.view()
    if fmt is Format.json:
        print_json(shown.json if shown.json is not None else result.as_dict())
    elif shown.raw is not None:
        sys.stdout.write(shown.raw)
    else:
        for grid in shown.grids:
            emit(fmt, grid.title, grid.header, grid.rows, None)
        for line in shown.lines:
            say(line)
    return shown
