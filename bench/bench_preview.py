"""`pulumi preview` of the dev stack vs the same resources as a raw pulumi-kubernetes program.

    .venv/bin/python -m bench.bench_preview

Both run with the real CLI (built by toolchain/build.py) in render mode, on throwaway
local backends, alternately, in one process run. The raw program creates the very objects
the dev stack renders (read from its manifests) with plain pulumi_kubernetes resources:
no components, no validation, no hashing. Printed, never asserted.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml
from immutable_infra import yaml_text

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import pulumi_env  # noqa: E402

PULUMI = str(ROOT / ".toolchain" / "bin" / "pulumi")
PASSPHRASE = "immutable-dev-only-passphrase"

RAW_PROGRAM = '''
import json, pathlib
import pulumi, pulumi_kubernetes as k8s
CLASSES = {
    ("v1", "Namespace"): k8s.core.v1.Namespace, ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap, ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service, ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"):
        k8s.admissionregistration.v1.ValidatingAdmissionPolicy,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"):
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding,
}
SNAKE = {"automountServiceAccountToken": "automount_service_account_token", "stringData": "string_data"}
provider = k8s.Provider("render", render_yaml_to_directory="build/manifests")
opts = pulumi.ResourceOptions(provider=provider)
for i, obj in enumerate(json.loads(pathlib.Path("objects.json").read_text())):
    cls = CLASSES[(obj.pop("apiVersion"), obj.pop("kind"))]
    args = {SNAKE.get(k, k): v for k, v in obj.items() if k != "status"}
    cls(f"obj{i}", **args, opts=opts)
'''


def _run(args: list[str], cwd: pathlib.Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([PULUMI, *args, "--non-interactive"], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pulumi {' '.join(args)} failed in {cwd.name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def _project(tmp: pathlib.Path, name: str, raw_objects: list[dict[str, object]] | None) -> pathlib.Path:
    project = tmp / name
    project.mkdir()
    if raw_objects is None:
        shutil.copy(ROOT / "__main__.py", project / "__main__.py")
        dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
        dev["config"]["immutable:environment"]["target"] = "render"  # both programs render, no cluster
        (project / "Pulumi.dev.yaml").write_text(yaml_text.dump(dev, sort_keys=False))
        shutil.copytree(ROOT / "stacks", project / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    else:
        (project / "__main__.py").write_text(RAW_PROGRAM)
        (project / "objects.json").write_text(json.dumps(raw_objects))
    meta = {"name": "immutable-example" if raw_objects is None else "raw",
            "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": sys.prefix}}}
    (project / "Pulumi.yaml").write_text(yaml_text.dump(meta))
    return project


def main(rounds: int = 3) -> float:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        env = pulumi_env(ROOT, backend_url=(tmp / "backend").as_uri())
        env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
        ours = _project(tmp, "ours", None)
        for args in (["stack", "init", "dev"], ["config", "set", "--secret",
                                                "immutable-example:api-db-password", "x-dev-secret"],
                     ["up", "--yes"]):
            _run(args, ours, env)
        objects = [yaml.safe_load(p.read_text()) for p in sorted((ours / "build" / "manifests" / "dev").rglob("*.yaml"))
                   if "0-crd" not in str(p)]
        raw = _project(tmp, "raw", objects)
        _run(["stack", "init", "dev"], raw, env)
        _run(["up", "--yes"], raw, env)
        times: dict[str, list[float]] = {"ours": [], "raw": []}
        for _ in range(rounds):
            times["ours"].append(_run(["preview"], ours, env))
            times["raw"].append(_run(["preview"], raw, env))
    ratio = statistics.median(times["ours"]) / statistics.median(times["raw"])
    print(f"pulumi preview, dev stack ({len(objects)} objects): ours {statistics.median(times['ours']):.2f}s, "
          f"raw {statistics.median(times['raw']):.2f}s, ratio {ratio:.2f}x (median of {rounds})")
    return ratio


if __name__ == "__main__":
    main()
