"""The probe binary (docker/probe) against the kubelet's probe rules, case by case.

Docker runs HTTP and TCP readiness probes as this static binary in exec form (no shell in
the image), so its answer must be the kubelet's for the same endpoint: k8s.io/kubernetes
pkg/probe/http (success when 200 <= status < 400; redirects followed on the same host; a
redirect to another host is the kubelet's "Warning", which counts as success; no answer
within the timeout fails) and pkg/probe/tcp (success when the connection opens). Every case
is served for real on 127.0.0.1; the probe runs as a process, as Docker runs it.
"""

from __future__ import annotations

import http.server
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.docker.harness import PROBE, ROOT

pytestmark = [pytest.mark.docker]

SLOW_SECONDS = 3.0


def kubelet_http_success(status: int) -> bool:
    """pkg/probe/http DoHTTPProbe: Success for 2xx, Warning (a success) for 3xx not followed, else Failure."""
    return 200 <= status < 400


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        seen_headers[self.path] = dict(self.headers)
        if parts[0] == "status":
            self.send_response(int(parts[1]))
            self.end_headers()
        elif parts[0] == "redirect-here":  # same host: followed, the target decides
            self.send_response(302)
            self.send_header("Location", f"/status/{parts[1]}")
            self.end_headers()
        elif parts[0] == "redirect-away":  # another host: not followed, the 3xx is the answer
            self.send_response(302)
            self.send_header("Location", "http://probe-parity.invalid/status/500")
            self.end_headers()
        elif parts[0] == "slow":
            time.sleep(SLOW_SECONDS)
            self.send_response(200)
            self.end_headers()
        elif parts[0] == "big":  # more than the 10 KiB the kubelet reads: still a success
            body = b"x" * 100_000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


seen_headers: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The built binary (cluster/build.py --only probe), else built here from docker/probe."""
    if PROBE.exists():
        return PROBE
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("neither .toolchain/cluster/bin/probe nor go: python3 cluster/build.py --only probe")
        pytest.skip("neither .toolchain/cluster/bin/probe nor go")
    out = tmp_path_factory.mktemp("probe") / "probe"
    subprocess.run([go, "build", "-trimpath", "-o", str(out), "."], cwd=ROOT / "docker" / "probe", check=True,
                   env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}, timeout=300)
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


def run(probe: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(probe), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("status", [200, 201, 204, 299, 301, 302, 304, 399, 400, 401, 403, 404, 418, 500, 502, 503])
def test_http_status_decides_as_the_kubelet_does(probe: pathlib.Path, server: int, status: int) -> None:
    # A 3xx without Location is not followed: the kubelet takes it as the answer, as here.
    proc = run(probe, "http", str(server), f"/status/{status}", "2")
    assert (proc.returncode == 0) == kubelet_http_success(status), (status, proc.stdout)
    if proc.returncode != 0:
        assert proc.returncode == 1 and f"statuscode: {status}" in proc.stdout


@pytest.mark.parametrize(("target", "success"), [(200, True), (500, False), (404, False)])
def test_same_host_redirects_are_followed(probe: pathlib.Path, server: int, target: int, success: bool) -> None:
    assert (run(probe, "http", str(server), f"/redirect-here/{target}", "2").returncode == 0) is success


def test_a_redirect_to_another_host_is_not_followed_and_counts_as_success(probe: pathlib.Path, server: int) -> None:
    assert run(probe, "http", str(server), "/redirect-away", "2").returncode == 0


def test_no_answer_within_the_timeout_fails_and_a_big_body_does_not(probe: pathlib.Path, server: int) -> None:
    start = time.monotonic()
    slow = run(probe, "http", str(server), "/slow", "1")
    assert slow.returncode == 1 and time.monotonic() - start < SLOW_SECONDS
    assert run(probe, "http", str(server), "/big", "2").returncode == 0


def test_the_request_looks_like_the_kubelets(probe: pathlib.Path, server: int) -> None:
    assert run(probe, "http", str(server), "/status/200?from=headers", "2").returncode == 0
    headers = {k.lower(): v for k, v in seen_headers["/status/200?from=headers"].items()}
    assert headers["user-agent"].startswith("kube-probe/") and headers["accept"] == "*/*"
    assert headers.get("connection", "").lower() == "close"  # no keep-alive, as the kubelet


def test_tcp_probe_succeeds_on_an_open_port_and_fails_on_a_closed_one(probe: pathlib.Path, server: int) -> None:
    assert run(probe, "tcp", str(server), "1").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, not listening: refused
        refused = run(probe, "tcp", str(closed), "1")
    assert refused.returncode == 1 and "refused" in refused.stdout


def test_a_refused_http_connection_fails(probe: pathlib.Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert run(probe, "http", str(s.getsockname()[1]), "/ready", "1").returncode == 1


@pytest.mark.parametrize("args", [[], ["http", "8080", "ready", "1"], ["http", "0", "/", "1"], ["tcp", "8080", "0"],
                                  ["udp", "53", "1"]])
def test_bad_arguments_exit_2_never_success(probe: pathlib.Path, args: list[str]) -> None:
    assert run(probe, *args).returncode == 2
