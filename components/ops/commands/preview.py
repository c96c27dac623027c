"""A preview as the commands use it: run ``pulumi preview --json`` with progress, keep its JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..steps import Preview
    from ..workspace import Project


def run_preview(project: Project, stack: str, save_dir: Path | None = None) -> Preview:
    """Run ``pulumi preview --json`` on ``stack`` (and keep its JSON in ``save_dir``)."""
    from .. import output
    from ..steps import parse_preview

    with output.progress(f"pulumi preview {stack}") as update:
        data = project.preview_json(stack, on_output=update)
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / f"{stack}.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return parse_preview(data, source=f"preview of {stack}")
