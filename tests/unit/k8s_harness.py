"""Run component code under Pulumi mocks and record every registered resource.

``run_program(fn)`` executes ``fn`` inside a mocked Pulumi program and returns the
recorded resources: type, name, resolved inputs, and the options the SDK saw
(parent, depends_on), captured by an in-process stack transformation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as runtime_mocks


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    parent: str | None = None


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@dataclass
class Result:
    resources: list[Registered]
    outputs: dict[str, Any]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{name}: {[r.name for r in self.resources]}"
        return matches[0]

    @property
    def names(self) -> set[str]:
        return {r.name for r in self.resources}


def run_program(fn: Callable[[], dict[str, Any] | None], *, config: dict[str, str] | None = None,
                stack: str = "dev") -> Result:
    """Run ``fn`` as a Pulumi program under mocks; resolve the outputs it returns."""
    recorder = Recorder()
    options: dict[str, tuple[list[str], str | None]] = {}

    def capture(args: pulumi.ResourceTransformationArgs) -> None:
        opts = args.opts
        deps = opts.depends_on if isinstance(opts.depends_on, list) else []
        options[args.name] = ([getattr(d, "_name", "?") for d in deps],
                              getattr(opts.parent, "_name", None) if opts.parent else None)
        return None

    pulumi.runtime.set_all_config(config or {})
    pulumi.runtime.settings.set_root_resource(None)  # a fresh stack (and transformations) per run
    runtime_mocks.set_mocks(recorder, project="immutable-example", stack=stack, preview=False)
    pulumi.runtime.register_stack_transformation(capture)
    outputs: dict[str, Any] = {}

    def program() -> pulumi.Output[Any]:
        returned = fn() or {}
        return pulumi.Output.all(**{k: pulumi.Output.from_input(v) for k, v in returned.items()}).apply(
            outputs.update)

    pulumi.runtime.test(program)()
    for res in recorder.resources:
        if res.name in options:
            res.depends_on, res.parent = options[res.name]
    return Result(recorder.resources, outputs)
