"""Which backend the Pulumi CLI will use: the one lookup (python3 standard library only).

``immutable-ops`` reads it through ``workspace``; ``toolchain/pulumi_env.py``, which runs
before the project's venv exists, loads this file by its path, so both read a login the same
way and cannot drift apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path


def current_backend(pulumi_home: os.PathLike[str] | str) -> str | None:
    """The backend `pulumi login` stored in PULUMI_HOME/credentials.json (None: no login)."""
    try:
        data = json.loads((Path(pulumi_home) / "credentials.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = data.get("current") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else None


def effective_backend(env: Mapping[str, str]) -> str | None:
    """The backend the CLI will use with ``env``: ``PULUMI_BACKEND_URL``, else the current
    ``pulumi login`` in PULUMI_HOME (default ``~/.pulumi``); ``None`` when neither is set."""
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"]
    return current_backend(Path(env["PULUMI_HOME"]) if env.get("PULUMI_HOME") else Path.home() / ".pulumi")
