"""What a Pulumi program needs to deploy exact releases, in one place (the library's side of
the example program's ``stacks/program.py``; any consumer program uses it the same way).

.. code-block:: python

    config, secrets, archive = read_stack(project_dir)
    web = resolve_releases(ContainerServiceSpec, "web", config.ledger["web"], archive,
                           lambda image: my_template(image, secrets), secrets,
                           keep=lambda s: s.keep_previous, subject="immutable:ledger.web")
    publish_unrecorded({"web": web})            # for `immutable-ops record`
    ContainerService("web", web.active, kept=web.kept)

See :mod:`.records` for the rules (pins, records, unrecorded releases) and :mod:`.ledger`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .environment import CONFIG_NAMESPACE, StackConfig, load_secret_store, load_stack_config
from .records import ReleaseArchive, SecretStore, archive_path


def read_immutable_config() -> dict[str, Any]:
    """The running stack's ``immutable:*`` config (keys without the namespace), secrets decrypted
    by the engine (they stay in memory: never log this)."""
    import pulumi

    raw: dict[str, Any] = {}
    for full_key, value in pulumi.runtime.get_config_env().items():
        namespace, _, key = full_key.partition(":")
        if namespace != CONFIG_NAMESPACE:
            continue
        try:
            raw[key] = json.loads(value)
        except (TypeError, ValueError):
            raw[key] = value
    return raw


def read_stack(project_dir: str | Path, *, workloads: Mapping[str, Any] | None = None,
               legacy_secrets: Mapping[str, str] | None = None) -> tuple[StackConfig, SecretStore, ReleaseArchive]:
    """The running stack's validated config, its versioned secrets and its release archive
    (``releases/<stack>.yaml`` under ``project_dir``). Raises ``SpecError`` on bad input."""
    import pulumi

    stack = pulumi.get_stack()
    raw = read_immutable_config()
    config = load_stack_config(stack, raw, workloads=workloads)
    return config, load_secret_store(stack, raw, legacy_secrets), ReleaseArchive.load(archive_path(project_dir, stack))
