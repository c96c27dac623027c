"""The rules the pack shares with the components: ``immutable_infra.rules``.

One source of truth: what the components' specs refuse (a secret-looking env name, a
credential in a value, a reason that is not a sentence, an image reference) is what the pack
reports, decided by the very same functions. The pack therefore needs the ``immutable-infra``
library in its Python (``pip install <this repository> -r policy/requirements.txt``, see
README.md); without it the pack stops at load time with that instruction instead of running
with rules of its own that could drift.
"""

from __future__ import annotations

try:
    from immutable_infra import rules
except ImportError as exc:  # pragma: no cover - exercised by the pack's load test
    raise ImportError(
        "the immutable-infra policy pack needs the immutable-infra library (immutable_infra.rules) in the "
        "Python that runs it; install it into the pack's virtualenv: "
        "`policy/venv/bin/pip install <path or git URL of the immutable-infra repository> -r policy/requirements.txt`"
    ) from exc

credential_kind = rules.credential_kind
looks_like_secret_name = rules.looks_like_secret_name
url_userinfo = rules.url_userinfo
mask_url = rules.mask_url
parse_image = rules.parse_image
opt_out_reason_problem = rules.opt_out_reason_problem
REASON_FIX = rules.REASON_FIX
IMAGE_FIX = rules.IMAGE_FIX

__all__ = ["IMAGE_FIX", "REASON_FIX", "credential_kind", "looks_like_secret_name", "mask_url", "opt_out_reason_problem",
           "parse_image", "rules", "url_userinfo"]
