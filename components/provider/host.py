"""The component provider: the SDK's ``ComponentProvider`` over the generated facades, plus two fixes.

1. **Inputs arrive settled.** The SDK wraps a top-level input in an ``Output`` when anything
   in it is secret or comes from another resource (``spec`` with a secret from config, or a
   namespace from ``${ns.name}``), and its input mapping then sees no dict and reports every
   field of ``spec`` as missing. The release id must be computed from known values at
   registration anyway, so each input is settled first: Outputs that the engine already
   resolved are replaced by their values (secretness is not lost: the components keep
   ``secrets[].value`` secret themselves), and an input that is still unknown is refused by
   its path.
2. **Bad input is a property error.** A ``SpecError`` from a component becomes an
   ``InputPropertiesError`` whose message is the very text Python users get (same paths,
   masked values, fixes) and whose property paths are the schema's (camelCase) paths, so
   the CLI lists them like a provider's input errors. Nothing was registered.
3. **A failing component does not make its siblings report noise.** When one Construct is
   refused, the engine ends the deployment as soon as the refusal reaches it, and closes its
   connection to this process while the siblings' Constructs (running here, registering their
   children) are still in flight: each then reports ``grpc: the client connection is closing``
   instead of its own outcome (upstream pulumi/pulumi#19275). So a refused Construct answers
   only once the other Constructs in flight here have answered (bounded by
   ``SIBLING_WAIT_SECONDS``): the siblings finish (registered, or refused for their own reason)
   and the CLI lists only real problems.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.errors import InputPropertiesError, InputPropertyError, InputPropertyErrorDetails
from pulumi.output import Unknown
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.provider import ConstructResult
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime import rpc

from ..errors import MASK, SpecError
from .catalog import FACADES, NAME
from .facades import FacadeSpec, load_facades

VERSION = "0.2.0"
SIBLING_WAIT_SECONDS = 120.0
"""How long a refused Construct waits for the Constructs in flight beside it (see the module doc).
A sibling's Construct has all its inputs already (the program waits for them before it asks),
so it never waits on the refused one; the bound only guards against a sibling that hangs."""
SIBLING_QUIET_SECONDS = 1.0
"""And how long no new Construct must have arrived: under load a sibling's request can reach this
process just after the refused one was decided (seen once in the full suite: ``api`` reported
``grpc: the client connection is closing``). Paid only by a refused Construct."""
MASKED_SUFFIX = " (value masked)"


class NotKnown(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def settle(value: Any, path: str) -> Any:
    """``value`` with resolved Outputs and secret markers replaced by plain values, whole numbers as ints.

    The Outputs the provider server builds from Construct inputs hold an already-completed
    future (``Output._data``, pulumi 3.259 to 3.272), so this needs no event loop turn.
    """
    if isinstance(value, pulumi.Output):
        data = getattr(value, "_data", None)
        if not isinstance(data, asyncio.Future) or not data.done() or data.exception() is not None:
            raise NotKnown(path)
        resolved = data.result()
        if not resolved.is_known:
            raise NotKnown(path)
        return settle(resolved.value, path)
    if isinstance(value, Unknown):
        raise NotKnown(path)
    if rpc.is_rpc_secret(value):
        return settle(rpc.unwrap_rpc_secret(value), path)
    if isinstance(value, Mapping):
        return {k: settle(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [settle(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        # Numbers travel as floats; the SDK's own int conversion is overwritten right after it
        # (3.259), so `70000` would be reported as `70000.0`. pydantic takes ints for floats.
        return int(value)
    return value


def camel_path(path: str) -> str:
    """``ports[0].container_port`` -> ``ports[0].containerPort`` (the schema's names)."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), path)


def property_errors(facade: FacadeSpec, error: SpecError) -> InputPropertiesError:
    """The component's SpecError as the engine's input-properties error."""
    arg_names = {a.name for a in facade.args}
    prefix = "spec." if "spec" in arg_names else ""
    details: list[InputPropertyErrorDetails] = []
    for p in error.problems:
        head = re.split(r"[.\[ ]", p.path, maxsplit=1)[0]
        path = camel_path((p.path if head in arg_names or not prefix else prefix + p.path).split(" ", 1)[0])
        if p.value == MASK:
            # The engine prints the value found at a property path it can resolve: one it cannot
            # resolve keeps a value we masked (a password in plain env) off the console.
            path += MASKED_SUFFIX
        details.append({"property_path": path,
                        "reason": f"{p.message} (got {p.value}); fix: {p.fix}"})
    return InputPropertiesError(str(error), details)


class ImmutableComponentProvider(ComponentProvider):
    def __init__(self) -> None:
        module = load_facades(FACADES)
        self._facades = {f.name: f for f in FACADES}
        super().__init__([getattr(module, f.name) for f in FACADES], NAME, version=VERSION)

    def construct(self, name: str, resource_type: str, inputs: Any,
                  options: pulumi.ResourceOptions | None = None) -> ConstructResult:
        facade = self._facades.get(resource_type.rsplit(":", 1)[-1])
        try:
            settled = {k: settle(v, k) for k, v in inputs.items()}
        except NotKnown as exc:
            reason = ("not known yet (it comes from a resource that is not created, e.g. in a first preview); "
                      "the release id is computed from the spec at registration; fix: give a value known at "
                      "preview (a literal, config, or an output of a resource that already exists)")
            raise InputPropertiesError(f"{resource_type} {name!r}: {exc.path} is {reason}",
                                       [{"property_path": camel_path(exc.path), "reason": reason}]) from None
        try:
            return super().construct(name, resource_type, settled, options)
        except ComponentInitError as exc:
            if isinstance(exc.inner, SpecError) and facade is not None:
                raise property_errors(facade, exc.inner) from None
            raise


def schema() -> dict[str, Any]:
    """The schema this provider serves (for the golden file and its drift test)."""
    import json

    provider = ImmutableComponentProvider()
    return dict(json.loads(provider.schema or "{}"))


class SiblingAwareServicer(ProviderServicer):
    """The SDK's servicer, whose refused Constructs answer after the siblings in flight (module doc, 3)."""

    def __init__(self, provider: ImmutableComponentProvider, args: list[str], engine_address: str) -> None:
        super().__init__(provider, args, engine_address=engine_address)
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._last_arrival = 0.0

    async def Construct(self, request: Any, context: Any) -> Any:
        self._last_arrival = asyncio.get_running_loop().time()
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            return await super().Construct(request, context)
        finally:
            self._in_flight.discard(task)  # type: ignore[arg-type]

    async def _construct(self, request: Any, context: Any) -> Any:
        try:
            return await super()._construct(request, context)
        except (InputPropertiesError, InputPropertyError):
            await self.siblings_answered(asyncio.current_task())
            raise

    async def siblings_answered(self, me: asyncio.Task[Any] | None) -> None:
        """Wait until no Construct but ``me`` is in flight (new ones included) and none has arrived
        for SIBLING_QUIET_SECONDS, at most SIBLING_WAIT_SECONDS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SIBLING_WAIT_SECONDS
        while (remaining := deadline - loop.time()) > 0:
            if others := [t for t in self._in_flight if t is not me and not t.done()]:
                await asyncio.wait(others, timeout=remaining)
                continue
            quiet = self._last_arrival + SIBLING_QUIET_SECONDS - loop.time()
            if quiet <= 0:
                return
            await asyncio.sleep(min(quiet, remaining))


def serve(args: list[str]) -> None:
    """What ``pulumi.provider.main`` does (the component provider host), with our servicer."""
    import argparse

    import grpc.aio
    from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
    from pulumi.runtime.proto import provider_pb2_grpc

    parser = argparse.ArgumentParser(description="immutable_infra component provider (gRPC server)")
    parser.add_argument("engine", help="Pulumi engine address")
    engine_address: str = parser.parse_known_args(args)[0].engine

    async def run() -> None:
        server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
        servicer = SiblingAwareServicer(ImmutableComponentProvider(), args, engine_address)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
        port = server.add_insecure_port(address="127.0.0.1:0")
        await server.start()
        sys.stdout.buffer.write(f"{port}\n".encode())
        sys.stdout.buffer.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
