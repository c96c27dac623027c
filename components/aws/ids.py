"""``Annotated`` types for AWS identifiers, each with one rule and one fix message.

Pure: no Pulumi, no AWS calls. A value that only exists after deployment (a VPC made by
another resource, say) is not a spec field at all but a ``pulumi.Input`` argument of the
component; these types check the literal ids a user writes into a spec.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated

from pydantic import AfterValidator

from ..fields import invalid

_PARTITION = r"arn:aws(?:-cn|-us-gov|-iso(?:-[a-z])?)?"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"
_ACCOUNT = r"\d{12}"


def _pattern_type(pattern: str, what: str, fix: str) -> AfterValidator:
    # ASCII: AWS ids and ARNs are ASCII, and ``\\d`` would otherwise take any script's digits.
    compiled = re.compile(pattern, re.ASCII)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise invalid(f"not {what}", fix)
        return value

    return AfterValidator(check)


def _resource_id(prefix: str, what: str) -> AfterValidator:
    return _pattern_type(
        rf"{prefix}-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})",
        what,
        f"write it as '{prefix}-' followed by 8 or 17 lowercase hex digits, e.g. '{prefix}-0123456789abcdef0'",
    )


AmiId = Annotated[str, _resource_id("ami", "an AMI id")]
"""``ami-`` + 8 or 17 hex digits. An image *name* or SSM parameter is refused: a release
pins the exact image."""
VpcId = Annotated[str, _resource_id("vpc", "a VPC id")]
SubnetId = Annotated[str, _resource_id("subnet", "a subnet id")]
SecurityGroupId = Annotated[str, _resource_id("sg", "a security group id")]
SnapshotId = Annotated[str, _resource_id("snap", "an EBS snapshot id")]
VolumeId = Annotated[str, _resource_id("vol", "an EBS volume id")]
EfsId = Annotated[str, _pattern_type(r"fs-[0-9a-f]{8,40}", "an EFS file system id",
                                     "write it as 'fs-' followed by hex digits, e.g. 'fs-0123456789abcdef0'")]
EfsAccessPointId = Annotated[str, _pattern_type(
    r"fsap-[0-9a-f]{8,40}", "an EFS access point id",
    "write it as 'fsap-' followed by hex digits, e.g. 'fsap-0123456789abcdef0'")]

TargetGroupArn = Annotated[str, _pattern_type(
    rf"{_PARTITION}:elasticloadbalancing:{_REGION}:{_ACCOUNT}:targetgroup/[A-Za-z0-9-]{{1,32}}/[0-9a-f]{{16}}",
    "a target group ARN",
    "copy the ARN of the target group: arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>")]
CertificateArn = Annotated[str, _pattern_type(
    rf"{_PARTITION}:acm:{_REGION}:{_ACCOUNT}:certificate/[0-9a-f-]{{36}}",
    "an ACM certificate ARN",
    "copy the ARN from ACM: arn:aws:acm:<region>:<account>:certificate/<uuid>")]
SnsTopicArn = Annotated[str, _pattern_type(
    rf"{_PARTITION}:sns:{_REGION}:{_ACCOUNT}:[A-Za-z0-9_-]{{1,256}}(?:\.fifo)?",
    "an SNS topic ARN", "copy the topic ARN: arn:aws:sns:<region>:<account>:<topic>")]
KmsKeyArn = Annotated[str, _pattern_type(
    rf"{_PARTITION}:kms:{_REGION}:{_ACCOUNT}:(?:key/[0-9a-f-]{{36}}|alias/[A-Za-z0-9/_-]{{1,250}})",
    "a KMS key ARN",
    "give the key's full ARN (arn:aws:kms:<region>:<account>:key/<uuid>); a bare alias is ambiguous")]
InstanceProfile = Annotated[str, _pattern_type(
    rf"[\w+=,.@-]{{1,128}}|{_PARTITION}:iam::{_ACCOUNT}:instance-profile/(?:[\w+=,.@-]+/)*[\w+=,.@-]{{1,128}}",
    "an IAM instance profile name or ARN",
    "give the profile's name (letters, digits and +=,.@_-) or its ARN "
    "arn:aws:iam::<account>:instance-profile/<name>")]
KeyName = Annotated[str, _pattern_type(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?", "an EC2 key pair name",
                                       "give the key pair's name (printable ASCII, no surrounding spaces)")]
S3Bucket = Annotated[str, _pattern_type(
    r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name",
    "give the bucket name only (3-63 lowercase letters, digits, '.' and '-'), not an ARN or URL")]

# Device names EC2 accepts for EBS mappings on Linux (root is usually /dev/xvda or /dev/sda1).
DeviceName = Annotated[str, _pattern_type(
    r"/dev/(?:sd[a-z]\d{0,2}|xvd[a-z]{1,2}\d{0,2})",
    "an EBS device name", "use /dev/xvda (Amazon Linux root), /dev/sda1 (Ubuntu root) or /dev/sd[b-z] for data")]

# --- instance types ------------------------------------------------------------------

INSTANCE_SIZES: tuple[str, ...] = (
    "nano", "micro", "small", "medium", "large", "xlarge",
    *(f"{n}xlarge" for n in (2, 3, 4, 6, 8, 9, 10, 12, 16, 18, 24, 32, 48, 56, 96, 112, 224, 448, 480)),
    "metal", *(f"metal-{n}xl" for n in (16, 24, 32, 48, 96)),
)
_INSTANCE_TYPE = re.compile(r"(?P<family>[a-z][a-z0-9-]*[0-9][a-z0-9-]*)\.(?P<size>[a-z0-9-]+)")


def check_instance_type(value: str) -> str:
    """``t3.micro`` passes; ``t3.mircro`` fails with "did you mean t3.micro"."""
    lowered = value.strip().lower()
    match = _INSTANCE_TYPE.fullmatch(lowered)
    if match is None:
        raise invalid("not an EC2 instance type",
                      "write it as <family>.<size> in lowercase, e.g. 't3.micro' or 'm7g.large'")
    if match["size"] not in INSTANCE_SIZES:
        close = difflib.get_close_matches(match["size"], INSTANCE_SIZES, n=1)
        hint = f"did you mean '{match['family']}.{close[0]}'?" if close else "check the size"
        raise invalid(f"unknown instance size {match['size']!r}",
                      f"{hint} Sizes are nano, micro, small, medium, large, xlarge, <n>xlarge, metal")
    if lowered != value:
        raise invalid("instance types are lowercase without spaces", f"write '{lowered}'")
    return value


InstanceType = Annotated[str, AfterValidator(check_instance_type)]
