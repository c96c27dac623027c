"""CrossGuard policy pack giving any Pulumi program the guarantees of immutable_infra's components.

The checks are pure functions over plain data (:mod:`.kubernetes`, :mod:`.aws`,
:mod:`.docker`, :mod:`.stack`), listed with their levels in :mod:`.registry`; only
:mod:`.pack` imports ``pulumi_policy``.
"""

from .registry import BY_NAME, PACK_NAME, POLICIES, PolicyDef

__all__ = ["BY_NAME", "PACK_NAME", "POLICIES", "PolicyDef"]
