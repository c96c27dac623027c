"""``comment``: the pull-request comment for one stack's preview (Markdown)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..output import View
from . import ProjectSource


@dataclass
class CommentResult:
    stack: str
    markdown: str

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "markdown": self.markdown}

    def view(self) -> View:
        return View(raw=self.markdown)


def run(project: ProjectSource, stack: str, preview_json: Path | None, max_chars: int) -> CommentResult:
    from .. import comment as text
    from ..guard import check
    from ..steps import load_preview
    from .preview import run_preview

    preview = load_preview(preview_json) if preview_json else run_preview(project(), stack)
    return CommentResult(stack, text.render(stack, preview, check(preview), max_chars=max_chars))
