"""A local S3-compatible server for the shared-backend tests: ``moto_server`` (moto[server],
pinned in requirements-dev.txt) as our own process on 127.0.0.1, started and stopped by the
tests. Nothing here talks to any other address: the endpoint is 127.0.0.1, credentials are
dummies, and the AWS SDKs' instance-metadata lookups are turned off."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REGION = "us-east-1"
#: Dummy credentials: moto accepts any; real AWS would refuse them.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "moto-test-only",
    "AWS_SECRET_ACCESS_KEY": "moto-test-only",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask 169.254.169.254 for credentials or region
}
#: Variables that could point the SDKs elsewhere than the dummies above.
AWS_DROP = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE")


def moto_binary() -> Path:
    return Path(sys.prefix) / "bin" / "moto_server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class MotoServer:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @classmethod
    def start(cls, log: Path, timeout: float = 60.0) -> MotoServer:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in AWS_DROP} | AWS_ENV
        handle = log.open("wb")
        proc = subprocess.Popen([str(moto_binary()), "-H", HOST, "-p", str(port)], stdout=handle,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        server = cls(port, proc, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=2):
                    return server
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        server.stop()
        raise RuntimeError(f"moto_server did not answer on {server.endpoint} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def backend_url(self, bucket: str) -> str:
        """The URL the Pulumi CLI (gocloud s3 driver) opens: endpoint, path-style addressing,
        region, and checksum validation only when required (moto sends none on GETs)."""
        return (f"s3://{bucket}?endpoint={self.endpoint}&s3ForcePathStyle=true&region={REGION}"
                "&response_checksum_validation=when_required")

    def objects(self, bucket: str) -> dict[str, bytes]:
        client = self.client()
        out: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                out[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return out
