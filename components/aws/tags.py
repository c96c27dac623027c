"""Names and tags for AWS resources: pure functions, testable without Pulumi.

Every release-owned resource carries ``immutable.dev/release``; shared resources (load
balancer, target group, alarms) carry ``immutable.dev/active-release`` instead, so a
reviewer can tell at a glance what belongs to which release. Opt-outs of secure defaults
are tags too (``immutable.dev/opt-out/<name>`` = the reason), visible in the console and
in every preview.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from .. import MANAGED_BY as MANAGED_BY
from ..fields import Problems, invalid

TAG_PREFIX = "immutable.dev/"
APP_TAG = f"{TAG_PREFIX}app"
ENV_TAG = f"{TAG_PREFIX}env"
RELEASE_TAG = f"{TAG_PREFIX}release"
ACTIVE_RELEASE_TAG = f"{TAG_PREFIX}active-release"
MANAGED_BY_TAG = f"{TAG_PREFIX}managed-by"
OPT_OUT_TAG_PREFIX = f"{TAG_PREFIX}opt-out/"

MAX_USER_TAGS = 30
"""AWS allows 50 tags per resource; ours take up to 20 (identity, release, opt-outs)."""

# AWS tag rules, ``[\p{L}\p{Z}\p{N}_.:/=+\-@]*``: Unicode letters, separators (spaces, not line
# breaks or tabs: those are control characters) and digits, and _ . : / = + - @.
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _tag_char(ch: str) -> bool:
    return ch.isalnum() or ch in _TAG_PUNCTUATION or unicodedata.category(ch).startswith("Z")


def _tag_text(text: str) -> bool:
    return all(_tag_char(ch) for ch in text)

_RESERVED_KEYS = ("Name",)
_RESERVED_PREFIXES = ("aws:", TAG_PREFIX)

NAME_ROOM = 24
"""Longest ``<app>-<env>`` allowed: load balancer and target group names stop at 32
characters, and the target group adds ``-<port>``."""


def base_name(app: str, env: str) -> str:
    """``<app>-<env>``: the prefix of every physical name."""
    return f"{app}-{env}"


def group_name(app: str, env: str, release: str | None) -> str:
    """``<app>-<env>-<release>`` for a release-owned group; ``<app>-<env>`` for the one group of
    the instance-refresh strategy."""
    return f"{base_name(app, env)}-{release}" if release else base_name(app, env)


def target_group_name(app: str, env: str, port: int) -> str:
    """The port is in the name so a port change creates the new target group before the old
    one is deleted (names are unique per account and region)."""
    return f"{base_name(app, env)}-{port}"


def check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """User tags: AWS limits, and the keys this library owns are refused."""
    if len(tags) > MAX_USER_TAGS:
        raise invalid(f"{len(tags)} tags, at most {MAX_USER_TAGS} are allowed",
                      "drop some; AWS allows 50 tags per resource and the component sets up to 20")
    problems = Problems("tags")  # every bad tag at once, each at its key
    for key, value in tags.items():
        if key in _RESERVED_KEYS or key.startswith(_RESERVED_PREFIXES):
            problems.add((key,), key, f"tag key {key!r} is reserved",
                         "remove it: the component sets Name, immutable.dev/* itself, and aws:* is AWS's own")
        elif not 1 <= len(key) <= 128 or not _tag_text(key):
            problems.add((key,), key, f"tag key {key!r} is not a valid AWS tag key",
                         "use 1-128 letters, digits, spaces and _ . : / = + - @")
        if len(value) > 256 or not _tag_text(value):
            problems.add((key,), value, f"tag {key!r} has an invalid value",
                         "use at most 256 letters, digits, spaces and _ . : / = + - @")
    problems.raise_if_any()
    return dict(tags)


def tag_safe(text: str, limit: int = 256) -> str:
    """``text`` with every character AWS refuses in a tag value replaced by a space."""
    cleaned = "".join(ch if _tag_char(ch) else " " for ch in text)
    return " ".join(cleaned.split())[:limit]


def opt_out_tags(reasons: Mapping[str, str]) -> dict[str, str]:
    """``{"immutable.dev/opt-out/public_ip": "<reason>"}`` for each opt-out."""
    return {f"{OPT_OUT_TAG_PREFIX}{name}": tag_safe(reason) for name, reason in sorted(reasons.items())}


def shared_tags(app: str, env: str, active_release: str, user: Mapping[str, str],
                opt_outs: Mapping[str, str]) -> dict[str, str]:
    """Tags for resources shared by every release (load balancer, target group, alarms)."""
    return {
        **user,
        APP_TAG: app,
        ENV_TAG: env,
        MANAGED_BY_TAG: MANAGED_BY,
        ACTIVE_RELEASE_TAG: active_release,
        **opt_out_tags(opt_outs),
    }


def release_tags(app: str, env: str, release: str, user: Mapping[str, str],
                 opt_outs: Mapping[str, str]) -> dict[str, str]:
    """Tags for resources owned by one release (security group, template, group, instances)."""
    return {
        **user,
        APP_TAG: app,
        ENV_TAG: env,
        MANAGED_BY_TAG: MANAGED_BY,
        RELEASE_TAG: release,
        **opt_out_tags(opt_outs),
    }
