"""The example program: one topology, deployed per stack (dev, test, prod)."""

import os

import pulumi
from immutable_infra import SpecError

from stacks.program import deploy, read_raw_config, read_secrets

stack = pulumi.get_stack()
try:
    raw = read_raw_config(stack)
    deploy(stack, raw, read_secrets(stack, raw), os.path.dirname(os.path.abspath(__file__)), require_records=True)
except SpecError as error:
    # One readable list of every bad input (secrets masked), not a traceback; nothing was registered.
    raise pulumi.RunError(str(error)) from None
