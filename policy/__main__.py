"""Entry point the Pulumi engine runs for ``pulumi preview --policy-pack <this directory>``."""

from immutable_policy.pack import PACK_NAME, build_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    # Each policy sets its own level; this only applies to a policy that would not.
    enforcement_level=EnforcementLevel.ADVISORY,
    description="Immutable-infrastructure guarantees for any Pulumi program (Kubernetes, AWS, Docker).",
)
