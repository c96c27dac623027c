"""``start_registrations()`` is safe wherever a program may call it: under unit-test mocks (no
Pulumi program to run) it does nothing, and the program still registers its resources. What
it changes on the real engine is tested in ``tests/engine/test_scale.py``."""

from __future__ import annotations

from typing import Any

import pulumi
from immutable_infra import start_registrations
from pulumi.runtime import mocks as runtime_mocks


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.names: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.names.append(args.name)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def test_under_mocks_it_does_nothing_and_the_program_runs() -> None:
    mocks = _Mocks()
    pulumi.runtime.settings.set_root_resource(None)
    runtime_mocks.set_mocks(mocks, project="registrations", stack="test", preview=False)

    def program() -> None:
        pulumi.CustomResource("test:index:Thing", "thing", {})
        start_registrations()
        start_registrations()  # twice: still nothing to add

    pulumi.runtime.test(program)()
    assert mocks.names == ["thing"]
