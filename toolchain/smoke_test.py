#!/usr/bin/env python3
"""End-to-end check of the built toolchain (python3 stdlib only).

    python3 toolchain/build.py && python3 toolchain/smoke_test.py [--python .venv/bin/python]

In a temporary directory it makes a Python Pulumi project that uses the given
virtualenv (which needs pulumi and pulumi-kubernetes at the versions pinned in
versions.json), with a local file backend and a passphrase, and runs through
the real CLI, our language host and the Kubernetes provider in render mode:
preview, up, a second up that must change nothing, destroy; then the same
project through the Automation API. A `pulumi.dynamic.Resource` covers the
dynamic-provider path. Ends with an `N passed, N failed` line; exits non-zero
if any check failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TOOLCHAIN_DIR = Path(__file__).resolve().parent
ROOT = TOOLCHAIN_DIR.parent
PINNED_CLI = json.loads((TOOLCHAIN_DIR / "versions.json").read_text())["pulumi"]["version"]
sys.path.insert(0, str(TOOLCHAIN_DIR))
from pulumi_env import pulumi_env  # noqa: E402

PROGRAM = '''
import pulumi
import pulumi_kubernetes as k8s
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

cfg = pulumi.Config()
provider = k8s.Provider("render", render_yaml_to_directory=cfg.require("render_dir"))
opts = pulumi.ResourceOptions(provider=provider)
labels = {"app": "smoke"}
cm = k8s.core.v1.ConfigMap("cfg", metadata={"name": "smoke-cfg"},
                           data={"greeting": cfg.get("greeting") or "hello"}, opts=opts)
dep = k8s.apps.v1.Deployment(
    "smoke",
    metadata={"name": "smoke", "labels": labels},
    spec={
        "replicas": 2,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{
                "name": "smoke", "image": "nginx:1.27",
                "envFrom": [{"configMapRef": {"name": cm.metadata["name"]}}],
            }]},
        },
    },
    opts=opts,
)


class EchoProvider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="echo-" + props["value"], outs={"value": props["value"], "length": len(props["value"])})


class Echo(Resource):
    value: pulumi.Output[str]
    length: pulumi.Output[int]

    def __init__(self, name, value, opts=None):
        super().__init__(EchoProvider(), name, {"value": value, "length": None}, opts)


echo = Echo("echo", "hello")
pulumi.export("deployment", dep.metadata["name"])
pulumi.export("echo_length", echo.length)
'''

AUTOMATION = '''
import json, sys
from pulumi import automation as auto
work_dir, render_dir = sys.argv[1], sys.argv[2]
stack = auto.create_or_select_stack(stack_name="auto", work_dir=work_dir)
stack.set_config("render_dir", auto.ConfigValue(render_dir))
result = {"preview": stack.preview().change_summary}
up = stack.up()
result["up"] = up.summary.resource_changes
result["outputs"] = {k: v.value for k, v in up.outputs.items()}
result["up2"] = stack.up().summary.resource_changes
result["destroy"] = stack.destroy().summary.resource_changes
stack.workspace.remove_stack("auto")
print("RESULT " + json.dumps(result))
'''


class Runner:
    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        (self.passed if ok else self.failed).append(name)
        log = f"{'PASS' if ok else 'FAIL'} {name}"
        if detail and not ok:
            log += "\n" + textwrap.indent(detail.strip()[-3000:], "    ")
        print(log, flush=True)
        return ok


def default_python() -> str:
    for cand in (ROOT / ".venv" / "bin" / "python", ROOT / "venv" / "bin" / "python"):
        if cand.exists():
            return str(cand)
    return sys.executable


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=default_python(),
                    help="python of a virtualenv with pulumi and pulumi-kubernetes (default: the project's .venv)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = ap.parse_args()

    python = Path(args.python).absolute()
    venv = python.parent.parent
    if not (venv / "pyvenv.cfg").is_file():
        print(f"smoke_test: {python} is not inside a virtualenv (no {venv / 'pyvenv.cfg'})", file=sys.stderr)
        return 2
    if not (ROOT / ".toolchain" / "bin" / "pulumi").exists():
        print("smoke_test: .toolchain/bin/pulumi is missing: run python3 toolchain/build.py", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="pulumi-smoke-"))
    proj, render = tmp / "project", tmp / "rendered"
    proj.mkdir()
    (proj / "Pulumi.yaml").write_text(
        f"name: smoke\nruntime:\n  name: python\n  options:\n    virtualenv: {venv}\n")
    (proj / "__main__.py").write_text(PROGRAM)
    env = pulumi_env(backend_url=(tmp / "backend").as_uri(), python_venv=False)
    env["PULUMI_CONFIG_PASSPHRASE"] = "smoke-test"
    r = Runner()
    start = time.monotonic()

    def pulumi(*cmd: str) -> subprocess.CompletedProcess:
        t = time.monotonic()
        proc = subprocess.run(["pulumi", *cmd, "--non-interactive"], cwd=proj, env=env,
                              capture_output=True, text=True)
        print(f"     pulumi {' '.join(cmd)}: exit {proc.returncode} in {time.monotonic() - t:.1f}s", flush=True)
        proc.all = proc.stdout + proc.stderr  # type: ignore[attr-defined]
        return proc

    try:
        p = pulumi("version")
        r.check("pulumi version is the pinned one", p.returncode == 0 and p.stdout.strip() == f"v{PINNED_CLI}", p.all)
        r.check("stack init", pulumi("stack", "init", "dev").returncode == 0)
        pulumi("config", "set", "render_dir", str(render))
        pulumi("config", "set", "--secret", "token", "s3cr3t")
        p = pulumi("preview")
        r.check("preview", p.returncode == 0 and "+ 5 to create" in p.stdout, p.all)
        r.check("no ambient-plugin warnings", "from $PATH" not in p.all, p.all)
        p = pulumi("up", "--yes")
        r.check("up", p.returncode == 0 and "+ 5 created" in p.stdout, p.all)
        files = sorted(x.name for x in render.rglob("*.yaml"))
        r.check("render mode wrote the manifests", len(files) == 2, str(files))
        p = pulumi("stack", "output", "--json")
        outs = json.loads(p.stdout) if p.returncode == 0 else {}
        r.check("dynamic resource output", outs.get("echo_length") == 5, p.all)
        p = pulumi("up", "--yes")
        r.check("second up changes nothing", p.returncode == 0 and "5 unchanged" in p.stdout
                and "created" not in p.stdout and "updated" not in p.stdout, p.all)
        r.check("preview --expect-no-changes", pulumi("preview", "--expect-no-changes").returncode == 0)
        p = pulumi("config", "get", "token")
        r.check("secret config round-trips", p.stdout.strip() == "s3cr3t", p.all)
        p = pulumi("destroy", "--yes")
        r.check("destroy", p.returncode == 0 and "- 5 deleted" in p.stdout, p.all)
        r.check("destroy removed the manifests", not list(render.rglob("*.yaml")))

        t = time.monotonic()
        script = tmp / "automation.py"
        script.write_text(AUTOMATION)
        p = subprocess.run([str(python), str(script), str(proj), str(tmp / "rendered-auto")], cwd=tmp, env=env,
                           capture_output=True, text=True)
        print(f"     automation API run: exit {p.returncode} in {time.monotonic() - t:.1f}s", flush=True)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        res = json.loads(lines[-1][7:]) if lines else {}
        r.check("automation API: preview/up/up/destroy",
                res.get("up") == {"create": 5} and res.get("up2") == {"same": 5}
                and res.get("destroy") == {"delete": 5} and res.get("outputs", {}).get("echo_length") == 5,
                p.stdout + p.stderr)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            subprocess.run(["rm", "-rf", str(tmp)])
    print(f"smoke test took {time.monotonic() - start:.1f}s")
    print(f"{len(r.passed)} passed, {len(r.failed)} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
