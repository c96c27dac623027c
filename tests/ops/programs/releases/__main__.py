"""Two services deployed as exact releases through the library's public API only.

``template.yaml`` is "today's code" of the services (the test edits it as a developer edits a
topology); the stack's ledger, versioned secrets and ``releases/<stack>.yaml`` say which
releases run. Render mode: the manifests land in ``build/<stack>``.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.kubernetes import ContainerService, ServiceNamespace
from immutable_infra.records import Releases, SecretStore, publish_unrecorded, resolve_releases
from immutable_infra.stack import read_stack

HERE = os.path.dirname(os.path.abspath(__file__))


def template(name: str, image: str, secrets: SecretStore) -> ContainerServiceSpec:
    with open(os.path.join(HERE, "template.yaml"), encoding="utf-8") as fh:
        data: dict[str, Any] = copy.deepcopy(yaml.safe_load(fh)[name])
    for secret in data.get("secrets", []):
        version, value = secrets.current(secret.pop("from")) or (None, "")
        secret.update(value=value, version=version)
    return ContainerServiceSpec.model_validate({**data, "image": image})


try:
    config, secrets, archive = read_stack(HERE)
    chosen: dict[str, Releases[ContainerServiceSpec]] = {
        name: resolve_releases(ContainerServiceSpec, name, config.ledger[name], archive,
                               lambda image, n=name: template(n, image, secrets), secrets,
                               keep=lambda spec: spec.keep_previous, subject=f"immutable:ledger.{name}")
        for name in ("web", "api")
    }
except SpecError as error:
    raise pulumi.RunError(str(error)) from None
publish_unrecorded(chosen)
if any(c.unrecorded for c in chosen.values()) and not pulumi.runtime.is_dry_run():
    raise pulumi.RunError("releases not recorded yet: run immutable-ops record")
if os.environ.get("RELEASES_TEST_FAIL_UP") and not pulumi.runtime.is_dry_run():
    # tests/engine/test_serving_order_engine.py: an update that fails after `record` (nothing serves anew)
    raise pulumi.RunError("this update fails on purpose (RELEASES_TEST_FAIL_UP)")

provider = k8s.Provider("render", render_yaml_to_directory=os.path.join(HERE, "build", pulumi.get_stack()))
namespace = ServiceNamespace("apps", {"spec": {"name": "apps"}, "services": [c.active for c in chosen.values()]},
                             opts=pulumi.ResourceOptions(providers=[provider]))
for name, releases in chosen.items():
    service = ContainerService(name, {"spec": releases.active, "previous": releases.kept},
                               opts=pulumi.ResourceOptions(providers=[provider], depends_on=[namespace]))
    pulumi.export(f"{name}_release", service.release)
    pulumi.export(f"{name}_kept_releases", service.kept_releases)
    pulumi.export(f"{name}_images", service.images)
