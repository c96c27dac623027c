#!/usr/bin/env python3
"""Build the project's Go command-line tools from the Go module proxy (stdlib only).

    python3 toolchain/go_tools.py actionlint   # the GitHub Actions workflow linter
    python3 toolchain/go_tools.py act          # nektos/act: runs the committed workflows here (docs/workflows.md)

Separate from build.py: the Pulumi engine needs neither, and a failure here must not stop
the engine's build. Same conventions: pinned version, cache entry
``.toolchain/cache/<tool>-<version>/``, hard link into ``.toolchain/bin``, ``CGO_ENABLED=0``,
``-trimpath``; the module's checksums are verified against the Go checksum database (a
tagged release is in it). Exits 0 when already built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import link_file  # noqa: E402  (the toolchain's one atomic link into .toolchain/bin)


@dataclass(frozen=True)
class GoTool:
    name: str
    version: str
    module: str
    package: str
    ldflags: str
    """``-ldflags`` value (``{version}`` replaced), so the binary reports its version."""
    version_args: tuple[str, ...]
    reports: str
    """The first line of ``<tool> <version_args>`` when built right (``{version}`` replaced)."""

    @property
    def entry(self) -> Path:
        return ROOT / ".toolchain" / "cache" / f"{self.name}-{self.version.lstrip('v')}"

    @property
    def bin(self) -> Path:
        return ROOT / ".toolchain" / "bin" / self.name


TOOLS = {
    "actionlint": GoTool("actionlint", "v1.7.12", "github.com/rhysd/actionlint", "github.com/rhysd/actionlint/cmd/actionlint",
                         "-X github.com/rhysd/actionlint.version={version}", ("-version",), "{version}"),
    # act reads its version from the module's build info: no -X needed.
    "act": GoTool("act", "v0.2.89", "github.com/nektos/act", "github.com/nektos/act", "", ("--version",),
                  "act version {bare}"),
}


def reported(tool: GoTool, binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), *tool.version_args], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    return out.splitlines()[0].strip() if out else None


def build(tool: GoTool) -> int:
    want = tool.reports.format(version=tool.version, bare=tool.version.lstrip("v"))
    built = tool.entry / tool.name
    if reported(tool, built) != want:
        go = shutil.which("go")
        if go is None:
            print(f"go_tools.py {tool.name}: FAILED: `go` is not on PATH", file=sys.stderr)
            return 1
        env = {**os.environ, "GOBIN": str(tool.entry), "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
        tool.entry.mkdir(parents=True, exist_ok=True)
        cmd = [go, "install", "-trimpath"]
        if tool.ldflags:
            cmd.append(f"-ldflags={tool.ldflags.format(version=tool.version)}")
        cmd.append(f"{tool.package}@{tool.version}")
        print(f"==> {' '.join(cmd)}", flush=True)
        start = time.monotonic()
        proc = subprocess.run(cmd, env=env, cwd=tool.entry, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"go_tools.py {tool.name}: FAILED: go install exited {proc.returncode}:\n{proc.stderr[-3000:]}",
                  file=sys.stderr)
            return 1
        print(f"    built in {time.monotonic() - start:.1f}s", flush=True)
        if reported(tool, built) != want:
            print(f"go_tools.py {tool.name}: FAILED: {built} reports {reported(tool, built)!r}, want {want!r}",
                  file=sys.stderr)
            return 1
    try:
        if not (tool.bin.exists() and os.path.samefile(built, tool.bin)):
            link_file(built, tool.bin)
    except OSError as exc:
        print(f"go_tools.py {tool.name}: FAILED: cannot link {tool.bin}: {exc}", file=sys.stderr)
        return 1
    print(f"{tool.name} {tool.version}: {tool.bin}")
    return 0


def main(argv: list[str]) -> int:
    names = argv or list(TOOLS)
    unknown = [n for n in names if n not in TOOLS]
    if unknown:
        print(f"go_tools.py: unknown tool(s) {', '.join(unknown)}; known: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    return max(build(TOOLS[n]) for n in names)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
