"""User data: checked, combined with the state boot script, base64-encoded. Pure.

User data is part of the release (a change makes a new launch template and group), and it
is readable by anything on the instance and by anyone with ``ec2:DescribeInstanceAttribute``,
so values that look like secrets are refused: fetch them at boot from Secrets Manager or
SSM Parameter Store with the instance profile instead.
"""

from __future__ import annotations

import base64
import re

from .. import rules
from ..fields import invalid

MAX_USER_DATA_BYTES = 16 * 1024
"""EC2 limit on user data before base64 encoding."""

BOUNDARY = "==immutable-infra-boundary=="
"""Fixed MIME boundary: the rendered user data must be byte-identical for the same release."""

# name = value, where the value is a literal (not $VAR, $(command) or ${...}). Any name containing
# the word counts (AWS_SECRET_ACCESS_KEY, DB_PASSWORD). Known credential formats anywhere in the text
# come from rules.credential_kind, the same check as a ContainerServiceSpec's env values.
_SECRET_ASSIGNMENT = re.compile(r"(?i)(?:password|passwd|secret|api[_-]?key|access[_-]?key|private[_-]?key|token)\w*"
                                r"\s*[=:]\s*['\"]?[^\s'\"$]{4,}")
_NOT_A_SECRET_FIX = ("fetch secrets at boot from Secrets Manager or SSM Parameter Store with the instance profile; "
                     "never put them in user data (it is readable by anything on the instance)")


def check_user_data(text: str) -> str:
    """Refuse user data over the EC2 limit, with a NUL or holding what looks like a secret."""
    size = len(text.encode())
    if size > MAX_USER_DATA_BYTES:
        raise invalid(f"user data is {size} bytes, EC2 allows {MAX_USER_DATA_BYTES}",
                      "move the bulk into the AMI (bake it) or fetch it at boot from S3")
    kind = rules.credential_kind(text)
    if kind:
        raise invalid(f"user data contains {kind}", _NOT_A_SECRET_FIX, sensitive=True)
    if _SECRET_ASSIGNMENT.search(text):
        raise invalid("user data assigns a literal value to a secret-looking name", _NOT_A_SECRET_FIX, sensitive=True)
    control = rules.control_characters(text)
    if control:
        raise invalid(f"user data contains {control}", "remove it (scripts and cloud-config are text)", sensitive=True)
    if BOUNDARY in text:
        raise invalid("user data contains the MIME boundary this library uses", "remove that line")
    return text


def content_type(text: str) -> str | None:
    """The cloud-init part type of ``text``, or ``None`` when it is neither a script nor cloud-config."""
    if text.startswith("#cloud-config"):
        return "text/cloud-config"
    if text.startswith("#!"):
        return "text/x-shellscript"
    return None


def combine(boot_script: str | None, user_data: str | None) -> str | None:
    """One user-data document: the state boot script first, then the user's part.

    With only one of them it is returned as is; with both, a ``multipart/mixed`` document
    that cloud-init runs part by part in order.
    """
    if boot_script is None or user_data is None:
        return boot_script if user_data is None else user_data
    kind = content_type(user_data)
    if kind is None:
        raise ValueError("user data must be a shell script or cloud-config to combine with state mounts")
    parts = [("text/x-shellscript", boot_script), (kind, user_data)]
    out = [f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"', "MIME-Version: 1.0", ""]
    for part_type, body in parts:
        out += [f"--{BOUNDARY}", f'Content-Type: {part_type}; charset="utf-8"', "", body.rstrip("\n")]
    out += [f"--{BOUNDARY}--", ""]
    return "\n".join(out)


def encode(text: str | None) -> str | None:
    """Base64, as the launch template wants it."""
    return None if text is None else base64.b64encode(text.encode()).decode()
