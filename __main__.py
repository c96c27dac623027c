"""The example program: one topology, deployed per stack (dev, test, prod)."""

import gc
import os

import pulumi
from immutable_infra import SpecError, start_registrations

from stacks.program import deploy, read_raw_config, read_secrets

# Hundreds of services make hundreds of thousands of long-lived objects (resources, outputs,
# futures) that the cyclic GC would rescan again and again: about a third of the program's CPU
# under mocks (bench/bench_scale.py --tune-gc). Leave the imports out of its view and collect
# less often; the program is short-lived.
gc.freeze()
gc.set_threshold(50_000, 20, 100)

stack = pulumi.get_stack()
try:
    raw = read_raw_config(stack)
    deploy(stack, raw, read_secrets(stack, raw), os.path.dirname(os.path.abspath(__file__)), require_records=True)
except SpecError as error:
    # One readable list of every bad input (secrets masked), not a traceback; nothing was registered.
    raise pulumi.RunError(str(error)) from None
# The SDK then waits for the registrations one by one, not by rescanning every pending output.
start_registrations()
