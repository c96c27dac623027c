#!/usr/bin/env python3
"""Build actionlint (the GitHub Actions workflow linter) from the Go module proxy (stdlib only).

    python3 toolchain/build_actionlint.py          # build if missing, link .toolchain/bin/actionlint
    .toolchain/bin/actionlint .github/workflows/*.yml

A separate builder rather than a step of build.py: the Pulumi engine does not need it, and
a failure here must not stop the engine's build. Same conventions: pinned version, cache
entry ``.toolchain/cache/actionlint-<version>/``, hard link into ``.toolchain/bin``,
``CGO_ENABLED=0``, ``-trimpath``; the module's checksums are verified against the Go
checksum database (a tagged release is in it). Exits 0 when already built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

VERSION = "v1.7.12"
MODULE = "github.com/rhysd/actionlint"
PACKAGE = f"{MODULE}/cmd/actionlint"
ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / ".toolchain" / "cache" / f"actionlint-{VERSION.lstrip('v')}"
BIN = ROOT / ".toolchain" / "bin" / "actionlint"


def version_of(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "-version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    return out.splitlines()[0].strip() if out else None


def main() -> int:
    built = ENTRY / "actionlint"
    if version_of(built) != VERSION:
        go = shutil.which("go")
        if go is None:
            print("build_actionlint.py: FAILED: `go` is not on PATH", file=sys.stderr)
            return 1
        env = {**os.environ, "GOBIN": str(ENTRY), "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
        ENTRY.mkdir(parents=True, exist_ok=True)
        cmd = [go, "install", "-trimpath", f"-ldflags=-X {MODULE}.version={VERSION}", f"{PACKAGE}@{VERSION}"]
        print(f"==> {' '.join(cmd)}", flush=True)
        start = time.monotonic()
        proc = subprocess.run(cmd, env=env, cwd=ENTRY, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"build_actionlint.py: FAILED: go install exited {proc.returncode}:\n{proc.stderr[-3000:]}", file=sys.stderr)
            return 1
        print(f"    built in {time.monotonic() - start:.1f}s", flush=True)
        if version_of(built) != VERSION:
            print(f"build_actionlint.py: FAILED: {built} reports {version_of(built)!r}, want {VERSION}", file=sys.stderr)
            return 1
    try:
        if not (BIN.exists() and os.path.samefile(built, BIN)):
            BIN.parent.mkdir(parents=True, exist_ok=True)
            tmp = BIN.with_name(".actionlint.tmp")
            tmp.unlink(missing_ok=True)
            try:
                os.link(built, tmp)
            except OSError:
                shutil.copy2(built, tmp)
            os.replace(tmp, BIN)
    except OSError as exc:
        print(f"build_actionlint.py: FAILED: cannot link {BIN}: {exc}", file=sys.stderr)
        return 1
    print(f"actionlint {VERSION}: {BIN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
