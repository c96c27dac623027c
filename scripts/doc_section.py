"""Keep one generated section of docs/reference.md (between two marker comments) in step with the code.

    sys.exit(sync_section(BEGIN, END, generate(), "public API", "scripts/gen_api.py"))

With ``--check`` on the command line nothing is written and the exit status says whether the
section is up to date (the README tests run it so); otherwise the section is rewritten.
"""

from __future__ import annotations

import pathlib
import sys

REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def sync_section(begin: str, end: str, generated: str, what: str, script: str, doc: pathlib.Path = REFERENCE) -> int:
    """Put ``generated`` (which starts with ``begin`` and ends with ``end``) in place of the
    reference's section between those markers; with ``--check``, return 1 instead when it differs."""
    text = doc.read_text()
    start, stop = text.index(begin), text.index(end) + len(end)
    new = text[:start] + generated + text[stop:]
    if "--check" in sys.argv:
        if new != text:
            print(f"docs/{doc.name} {what} is out of date: run python {script}", file=sys.stderr)
            return 1
        return 0
    doc.write_text(new)
    return 0
