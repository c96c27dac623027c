#!/usr/bin/env python3
"""Build actionlint from the Go module proxy: ``python3 toolchain/go_tools.py actionlint``
(kept as the command scripts and workflows have always called)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from go_tools import main

if __name__ == "__main__":
    sys.exit(main(["actionlint"]))
