"""``pulumi_aws``, loaded so that importing it raises no warning.

pulumi_aws 7.x warns (``DeprecationWarning``) when its lazily loaded ``ec2`` module is
first executed, about ``EncryptionControl``, a resource this library never uses. Programs
and test suites that run with warnings as errors would fail on that import alone, so the
module is loaded here once with exactly that warning ignored; every other warning stays.
"""

from __future__ import annotations

import warnings

import pulumi_aws as aws

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"aws\.ec2/encryptioncontrol", category=DeprecationWarning)
    _ = aws.ec2.SecurityGroup  # attribute access executes the lazy module

__all__ = ["aws"]
