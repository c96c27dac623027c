"""The same-objects benchmark compares like with like: its hand-written program registers exactly
the Kubernetes objects the component does (inputs, dependencies, timeouts), only without the
component resources."""

from __future__ import annotations

from typing import Any

import pulumi

from bench.bench_container_service import component, raw

from ..k8s_harness import Result, run_program

COMPONENT_TYPES = {"immutable:kubernetes:ContainerService", "immutable:kubernetes:ServiceNamespace"}


def _run(program_of: Any) -> tuple[Result, dict[str, Any]]:
    timeouts: dict[str, Any] = {}

    def capture(args: pulumi.ResourceTransformationArgs) -> None:
        t = args.opts.custom_timeouts
        timeouts[args.name] = (t.create, t.update, t.delete) if t else None

    def program() -> None:
        pulumi.runtime.register_stack_transformation(capture)
        program_of(3)()

    return run_program(program), timeouts


def test_the_hand_written_program_registers_the_components_objects() -> None:
    (comp, comp_timeouts), (hand, hand_timeouts) = _run(component), _run(raw)
    objects = {(r.type, r.name): r for r in comp.resources if r.type not in COMPONENT_TYPES}
    by_hand = {(r.type, r.name): r for r in hand.resources}
    assert len(objects) == 3 * 6 + 4
    assert set(by_hand) == set(objects)
    for key, r in objects.items():
        assert by_hand[key].inputs == r.inputs, key
        assert hand_timeouts[r.name] == comp_timeouts[r.name], key
        # Within a service the same order; the component's children wait for the namespace
        # through their parent, the hand-written ones directly.
        assert set(r.depends_on) - {"apps"} <= set(by_hand[key].depends_on), key
    assert any(t is not None for t in hand_timeouts.values())
