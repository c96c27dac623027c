"""One module per ``immutable-ops`` command: ``run(project, ...)`` does the command's work (the
engine, the ledger) around the pure plan of its sibling module in ``immutable_infra.ops`` and
returns a result with ``as_dict()`` and ``view()``; ``cli.py`` only parses and renders it.

Every module here imports what it needs when it runs, like ``cli.py``: ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..workspace import Project

ProjectSource = Callable[[], "Project"]
"""Opens the project when a command needs it (``guard -p`` and ``comment -p`` read files only)."""
