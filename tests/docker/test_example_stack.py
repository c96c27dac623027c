"""The example project (stacks/) with `target: local-docker`: its preview against the project's
engine, through the bridged provider, which checks every input of every Docker resource
against its schema (an unknown or mistyped property fails the preview).

Only a preview: the example ledger's images (registry.example.com/...) do not exist here, and
the example's web and api use http_get probes, which Docker runs through /bin/sh, which the
test image does not have (docs/platforms.md, "Still not real"). tests/docker/test_story.py deploys.
"""

from __future__ import annotations

import pathlib

import pytest

from tests.docker.harness import Engine
from tests.engine.harness import Workspace, changed, resource_type

pytestmark = [pytest.mark.docker, pytest.mark.engine]


def test_dev_on_local_docker_previews_through_the_bridged_provider(tmp_path: pathlib.Path, engine: Engine) -> None:
    ws = Workspace.create(tmp_path, target="local-docker")
    ws.env["DOCKER_HOST"] = engine.host
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
