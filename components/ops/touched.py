"""Which stacks a change touches (the pull-request workflow previews those) (pure).

``Pulumi.<stack>.yaml`` touches that stack; the program, the components it uses, its
dependencies and the policy pack touch every stack; the apps' source (``testapp/``) touches
dev, where the image build step appends new images (promotion carries them on); anything else
(docs, tests, workflows, the ops tool itself) touches none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

EVERY_STACK = ("Pulumi.yaml", "__main__.py", "stacks/", "components/", "policy/", "requirements.txt",
               "pyproject.toml", "toolchain/versions.json")
NO_STACK = ("components/ops/",)
APP_SOURCES = "testapp/"
IMAGES_ENTER = "dev"
"""The stack whose deploy builds the apps' images and appends them to its ledger (registry/apps.py)."""


def touched(changed: Iterable[str], stacks: Sequence[str]) -> list[str]:
    """The stacks (in ``stacks`` order) that ``changed`` (paths relative to the project) touch."""
    hit: set[str] = set()
    for raw in changed:
        path = raw.strip().removeprefix("./")
        if not path or path.startswith(NO_STACK):
            continue
        name = path.rsplit("/", 1)[-1]
        if "/" not in path and name.startswith("Pulumi.") and name.endswith(".yaml") and name != "Pulumi.yaml":
            stack = name[len("Pulumi."):-len(".yaml")]
            if stack in stacks:
                hit.add(stack)
            continue
        if path.startswith(APP_SOURCES):
            if IMAGES_ENTER in stacks:
                hit.add(IMAGES_ENTER)
            continue
        if path in EVERY_STACK or path.startswith(tuple(p for p in EVERY_STACK if p.endswith("/"))):
            return list(stacks)
    return [s for s in stacks if s in hit]
