"""AWS components: immutable VMs from an AMI, one auto scaling group per release.

    from immutable_infra.aws import ServerGroup, ServerGroupSpec
"""


from .ledger import ReleasePlan, ServerGroupPlan, plan_releases, select_kept
from .server_group import TYPE_TOKEN, ServerGroup, ServerGroupArgs, Wiring, resolve_wiring, validate_server_group
from .server_group_spec import (
    EgressRule,
    HealthCheck,
    IngressRule,
    InstanceRefresh,
    LoadBalancer,
    Monitoring,
    Network,
    OptOuts,
    Scaling,
    Security,
    ServerGroupSpec,
    TargetGroups,
    Volume,
)
from .state import DataVolume, EfsMount, State

__all__ = [
    "TYPE_TOKEN",
    "DataVolume",
    "EfsMount",
    "EgressRule",
    "HealthCheck",
    "IngressRule",
    "InstanceRefresh",
    "LoadBalancer",
    "Monitoring",
    "Network",
    "OptOuts",
    "ReleasePlan",
    "Scaling",
    "Security",
    "ServerGroup",
    "ServerGroupArgs",
    "ServerGroupPlan",
    "ServerGroupSpec",
    "State",
    "TargetGroups",
    "Volume",
    "Wiring",
    "plan_releases",
    "resolve_wiring",
    "select_kept",
    "validate_server_group",
]

