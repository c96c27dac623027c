"""The example project (stacks/) with `target: local-docker`: its preview against the project's
engine, through the bridged provider, which checks every input of every Docker resource
against its schema (an unknown or mistyped property fails the preview).

Only a preview: the example ledger's images (registry.example.com/...) do not exist here
(docs/platforms.md, "Still not real"). The preview needs the edge proxy running (web has a fixed
address) and the probe binary (web and api use http_get probes). tests/docker/test_story.py deploys.
"""

from __future__ import annotations

import pathlib

import pytest
from immutable_infra.docker import run_options as ro
from immutable_infra.docker.edge import default_edge_port

from tests.docker.harness import PROBE, Edge, Engine
from tests.engine.harness import Workspace, changed, resource_type

pytestmark = [pytest.mark.docker, pytest.mark.engine]


def test_dev_on_local_docker_previews_through_the_bridged_provider(tmp_path: pathlib.Path, engine: Engine,
                                                                   edge: Edge) -> None:
    ws = Workspace.create(tmp_path, target="local-docker")
    ws.env["DOCKER_HOST"] = engine.host
    ws.env["IMMUTABLE_EDGE_STATE"] = str(edge.state)
    ws.env["IMMUTABLE_PROBE_BINARY"] = str(PROBE)
    ws.init_stack()
    steps = ws.preview_steps()
    types = [resource_type(s["urn"]) for s in changed(steps)]
    assert types.count("docker:index/container:Container") >= 3  # web, api, worker (plus seeds)
    assert "docker:index/remoteImage:RemoteImage" in types and "docker:index/network:Network" in types
    assert not any(t.startswith("kubernetes:") for t in types)
    containers = [s for s in changed(steps) if resource_type(s["urn"]) == "docker:index/container:Container"]
    for step in containers:
        news = step["newState"]["inputs"]
        assert news["capabilities"]["drops"] == ["ALL"] and news["privileged"] is False
    web = next(i for i in (s["newState"]["inputs"] for s in containers)
               if "-web-" in i["name"] and i.get("healthcheck"))  # web's first container (seeds have no check)
    # The fixed address is declared by the release (labels); the HTTP probe runs our binary, no shell.
    labels = {item["label"]: item["value"] for item in web["labels"]}
    assert labels[ro.LABEL_EDGE_PORT] == str(default_edge_port("web"))
    assert web["healthcheck"]["tests"][:3] == ["CMD", ro.PROBE_PATH, "http"]


def test_without_the_edge_proxy_the_preview_says_how_to_start_it(tmp_path: pathlib.Path, engine: Engine) -> None:
    ws = Workspace.create(tmp_path, target="local-docker")
    ws.env["DOCKER_HOST"] = engine.host
    ws.env["IMMUTABLE_EDGE_STATE"] = str(tmp_path / "no-edge-proxy")
    ws.env["IMMUTABLE_PROBE_BINARY"] = str(PROBE)
    ws.init_stack()
    proc = ws.pulumi("preview", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "python3 docker/edge.py start" in out, out
