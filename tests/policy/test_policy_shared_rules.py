"""One source of truth: the pack and the components judge with the same functions, and agree.

The pack imports ``immutable_infra.rules`` (the components' own rules) instead of keeping
copies; these tests pin that, and check on sample inputs that what a ``ContainerServiceSpec``
refuses is what the pack reports on the equivalent raw Kubernetes input.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from immutable_infra import rules
from immutable_infra.errors import SpecError, validate_spec
from immutable_policy import kubernetes, shared
from immutable_policy.common import OptOutRecord
from immutable_policy.registry import BY_NAME, run_resource_policy

# The project's own fixtures: a broken import must fail these tests, never skip them.
from tests.unit import fixtures

from .policy_testkit import DEPLOYMENT, POLICY_DIR, changed, deployment

ENV_NAMES = ["DB_PASSWORD", "db_passwd", "STRIPE_API_KEY", "APIKEY", "GITHUB_TOKEN", "CLIENT_SECRET",
             "AWS_CREDENTIALS", "SSH_PRIVATE_KEY", "LOG_LEVEL", "PORT", "DATABASE_HOST", "FEATURE_FLAGS"]
REASONS = ["x" * 10, "because", "todo todo todo todo", "needed for now", "a b", "legacy agent needs root until OPS-42",
           "nightly builds are tagged, never promoted (OPS-12)", "debugging a crash loop, INC-7", "   ", "temp fix"]


def test_the_pack_uses_the_components_functions_not_copies() -> None:
    assert shared.rules is rules
    assert kubernetes.looks_like_secret_name is rules.looks_like_secret_name
    assert kubernetes.credential_kind is rules.credential_kind
    assert kubernetes.parse_image is rules.parse_image
    assert shared.opt_out_reason_problem is rules.opt_out_reason_problem


def _component_refuses(**overrides: object) -> bool:
    from immutable_infra import ContainerServiceSpec

    try:
        validate_spec(ContainerServiceSpec, fixtures.service(**overrides), subject="service 'web'")
    except SpecError:
        return True
    return False


@pytest.mark.parametrize("name", ENV_NAMES)
def test_env_names_the_component_refuses_are_the_ones_the_pack_reports(name: str) -> None:
    raw = changed(deployment(), ("spec.template.spec.containers[0].env", [{"name": name, "value": "plain"}]))
    reported = bool(run_resource_policy(BY_NAME["k8s-no-plaintext-secret"], DEPLOYMENT, raw))
    assert reported == _component_refuses(env={name: "plain"}), name


@pytest.mark.parametrize("reason", REASONS)
def test_opt_out_reasons_the_component_refuses_are_the_ones_the_pack_refuses(reason: str) -> None:
    pack_accepts = OptOutRecord("exec_lock", "immutable.dev/opt-out-exec-lock", reason).valid
    refused = _component_refuses(security={"opt_outs": {"exec_lock": {"reason": reason}}})
    assert pack_accepts == (not refused), reason


def test_the_pack_without_the_library_stops_with_the_install_instruction() -> None:
    code = ("import sys; sys.modules['immutable_infra'] = None; sys.path.insert(0, sys.argv[1]); "
            "import immutable_policy")
    proc = subprocess.run([sys.executable, "-c", code, str(POLICY_DIR)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "needs the immutable-infra library" in proc.stderr
    assert "pip install" in proc.stderr and "-r policy/requirements.txt" in proc.stderr
