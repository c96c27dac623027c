#!/usr/bin/env python3
"""Run a committed workflow of a checkout on this machine with act (stdlib only).

    python3 scripts/run_workflow.py preview.yml pull_request --event event.json \\
        [--job touched] [--secret NAME=VALUE ...] [--var NAME=VALUE ...] [--env NAME=VALUE ...]
        [--input NAME=VALUE ...] [-C checkout]

act (``.toolchain/bin/act``, built by ``toolchain/go_tools.py act``) runs the jobs on the host
(``runs-on: ubuntu-latest`` mapped to act's self-hosted platform: no Docker), in a copy of the
checkout, with the event payload from ``--event``. The third-party actions the workflows use
on a forge are replaced by the stand-ins under ``.github/actions/offline/`` (act's
``--local-repository``): this machine cannot fetch them. Secrets go to act through a file
readable by this user only, never on a command line. Exits with act's exit code.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACT = ROOT / ".toolchain" / "bin" / "act"
STAND_INS = Path(".github") / "actions" / "offline"
"""Relative to the checkout that is run: its own committed stand-ins."""
USES = re.compile(r"uses:\s*(actions/([\w-]+)@[\w.]+)")


def stand_ins(checkout: Path, workflow: Path) -> list[str]:
    """``--local-repository`` values for every third-party action the workflow names."""
    out = []
    for ref, name in sorted(set(USES.findall(workflow.read_text()))):
        folder = checkout.resolve() / STAND_INS / name
        if not (folder / "action.yml").is_file():
            raise SystemExit(f"run_workflow.py: {workflow.name} uses {ref}, which has no stand-in under {folder.parent}")
        out += ["--local-repository", f"{ref}={folder}"]
    return out


def pairs(values: list[str], what: str) -> list[str]:
    for value in values:
        if "=" not in value:
            raise SystemExit(f"run_workflow.py: --{what} wants NAME=VALUE, got {value.split('=')[0]!r}")
    return values


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow", help="file name under .github/workflows/")
    parser.add_argument("event", help="event name: push, pull_request, workflow_dispatch, schedule")
    parser.add_argument("--event", dest="payload", required=True, type=Path, help="event payload (JSON file)")
    parser.add_argument("--job", help="run only this job (and nothing it needs)")
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--var", action="append", default=[])
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--input", action="append", default=[], help="a workflow_dispatch input")
    parser.add_argument("-C", dest="checkout", type=Path, default=Path.cwd())
    parser.add_argument("--keep-ignored", action="store_true",
                        help="copy git-ignored files too (a self-hosted runner's kept .venv and .toolchain)")
    args = parser.parse_args(argv)
    if not ACT.exists():
        raise SystemExit(f"run_workflow.py: {ACT} is missing: run python3 toolchain/go_tools.py act")
    workflow = args.checkout / ".github" / "workflows" / args.workflow
    if not workflow.is_file():
        raise SystemExit(f"run_workflow.py: no workflow {workflow}")
    with tempfile.TemporaryDirectory(prefix="run-workflow-") as tmp:
        secrets = Path(tmp) / "secrets"
        secrets.touch(mode=0o600)
        secrets.write_text("".join(f"{s}\n" for s in pairs(args.secret, "secret")))
        cmd = [str(ACT), args.event, "-C", str(args.checkout), "-W", str(workflow.relative_to(args.checkout)),
               "-e", str(args.payload.resolve()), "-P", "ubuntu-latest=-self-hosted", "--secret-file", str(secrets),
               "--var-file", os.devnull, "--env-file", os.devnull, "--input-file", os.devnull,
               "--action-cache-path", str(Path(tmp) / "act"), *stand_ins(args.checkout, workflow)]
        for value in pairs(args.var, "var"):
            cmd += ["--var", value]
        for value in pairs(args.env, "env"):
            cmd += ["--env", value]
        for value in pairs(args.input, "input"):
            cmd += ["--input", value]
        if args.keep_ignored:
            cmd += ["--use-gitignore=false", "--env", f"IMMUTABLE_RUNNER_KEEP={args.checkout.resolve()}"]
        forge = subprocess.run(["git", "-C", str(args.checkout), "remote", "get-url", "origin"],
                               capture_output=True, text=True).stdout.strip()
        if forge:  # where the checkout stand-in fetches a ref a step asks for
            cmd += ["--env", f"IMMUTABLE_FORGE={forge}"]
        if args.job:
            cmd += ["-j", args.job]
        print(f"==> act {args.event} {args.workflow}" + (f" (job {args.job})" if args.job else ""), flush=True)
        return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
