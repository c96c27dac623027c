"""Our language host stops when its engine goes away (the engine health check upstream hosts have).

Without it every YAML ``preview``/``up``/``destroy`` left one ``pulumi-language-python`` running
after the CLI exited. The "engine" here is a gRPC server on 127.0.0.1 (no health service: the
host takes ``Unimplemented`` as alive, as upstream does); the host must keep serving while it
answers, and exit within seconds once it is gone.
"""

from __future__ import annotations

import subprocess
import time
from concurrent import futures

import grpc
import pytest

from .harness import ROOT, toolchain_missing

LANGUAGE_HOST = ROOT / ".toolchain" / "bin" / "pulumi-language-python"


def _missing() -> str | None:
    return toolchain_missing() or (None if LANGUAGE_HOST.exists() else f"{LANGUAGE_HOST} is missing")


pytestmark = [pytest.mark.engine, pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]


def _exits_within(process: subprocess.Popen[str], seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_the_host_serves_while_the_engine_answers_and_exits_when_it_is_gone() -> None:
    engine = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    port = engine.add_insecure_port("127.0.0.1:0")
    engine.start()
    host = subprocess.Popen([str(LANGUAGE_HOST), f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None and host.stdout.readline().strip().isdigit()  # its port
        assert not _exits_within(host, 4), "the host exited while its engine was alive"
        engine.stop(grace=None)
        started = time.monotonic()
        assert _exits_within(host, 15), "the host outlived its engine"
        print(f"host exited {time.monotonic() - started:.1f}s after the engine stopped")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        engine.stop(grace=None)
