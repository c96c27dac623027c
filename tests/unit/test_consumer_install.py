"""Installable library: a consumer program with its own ``components`` package can
still import ours (the import name is ``immutable_infra``)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

CONSUMER_MAIN = textwrap.dedent('''
    import pulumi
    from components.naming import team_prefix          # the consumer's own package
    from immutable_infra.kubernetes import ContainerService
    import immutable_infra

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            print("registered", args.typ, args.name)
            return args.name + "-id", args.inputs
        def call(self, args):
            return {}, None

    pulumi.runtime.set_mocks(Mocks(), project="consumer", stack="dev", preview=False)

    def program():
        svc = ContainerService(team_prefix("web"), {"spec": {
            "name": "web", "image": "registry.example.com/web@sha256:" + "e" * 64,
            "resources": {"cpu_request": "10m", "cpu_limit": "100m", "memory_request": "16Mi", "memory_limit": "32Mi"},
            "probes": {"liveness": {"tcp_port": 80}, "readiness": {"tcp_port": 80}},
            "ports": [{"container_port": 80}],
        }})
        return svc.release.apply(lambda r: print("release", r))

    pulumi.runtime.test(program)()
    print("library at", immutable_infra.__file__)
''')


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, cwd=out)
    (built,) = out.glob("immutable_infra-*.whl")
    return built


def test_wheel_ships_the_library_under_its_own_name(wheel: pathlib.Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "immutable_infra/kubernetes/container_service.py" in names
    assert "immutable_infra/py.typed" in names
    assert not any(n.startswith(("components/", "stacks/", "tests/")) for n in names)


def test_consumer_with_its_own_components_package(wheel: pathlib.Path, tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True)
    consumer = tmp_path / "consumer"
    (consumer / "components").mkdir(parents=True)
    (consumer / "components" / "__init__.py").write_text("")
    (consumer / "components" / "naming.py").write_text("def team_prefix(n):\n    return 'payments-' + n\n")
    (consumer / "__main__.py").write_text(CONSUMER_MAIN)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # The consumer's folder first (as Pulumi runs programs), then the installed wheel, then
    # the dependencies. -S skips .pth files, so this checkout's editable install is not seen.
    deps = sysconfig.get_paths()["purelib"]
    env["PYTHONPATH"] = os.pathsep.join([str(consumer), str(site), deps])
    proc = subprocess.run([sys.executable, "-S", str(consumer / "__main__.py")],
                          cwd=consumer, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "registered immutable:kubernetes:ContainerService payments-web" in proc.stdout
    assert f"library at {site}" in proc.stdout
    assert "release " in proc.stdout
