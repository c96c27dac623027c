"""``start_registrations()`` is safe wherever a program may call it: under unit-test mocks (no
Pulumi program to run) it does nothing, and the program still registers its resources. What
it changes on the real engine, and a program with an entry point of its own, are tested in
``tests/engine/test_scale.py``."""

from __future__ import annotations

from typing import Any

import pulumi
from immutable_infra import start_registrations

from ..k8s_harness import run_program


def test_under_mocks_it_does_nothing_and_the_program_runs() -> None:
    def program() -> dict[str, Any]:
        thing = pulumi.CustomResource("test:index:Thing", "thing", {})
        start_registrations()
        start_registrations()  # twice: still nothing to add
        return {"urn": thing.urn}

    result = run_program(program)
    assert [r.name for r in result.resources] == ["thing"]
    assert result.outputs["urn"]
