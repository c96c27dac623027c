"""The rules every entry point shares: one source of truth, pure standard library.

The component specs (pydantic validators) and the policy pack (which checks what actually
reaches the engine) import these functions, so both refuse and accept exactly the same
inputs. Nothing here imports pydantic or Pulumi; every check either returns a value, or
raises :class:`ValueError` / returns a message written for a person.

Kubernetes quantities
    :func:`parse_quantity` follows ``resource.Quantity``'s documented grammar exactly::

        <quantity>        ::= <signedNumber><suffix>
        <signedNumber>    ::= <number> | <sign><number>
        <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
        <sign>            ::= "+" | "-"
        <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
        <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
        <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
        <decimalExponent> ::= "e" <signedInteger> | "E" <signedInteger>

    ``cpu_millicores`` and ``memory_bytes`` round up like ``MilliValue()``/``Value()``.

Credential formats (:func:`credential_kind`)
    Values are refused (and masked) when they contain one of:

    - an AWS access key id (``AKIA``/``ASIA``/``ABIA``/``ACCA`` + 16 upper-case letters or digits);
    - an AWS secret access key next to its name (``aws_secret_access_key = <40 chars>``);
    - a PEM private key block (``-----BEGIN ... PRIVATE KEY-----``, OpenSSH, PGP);
    - a JSON Web Token (three base64url parts, the first two starting ``eyJ``);
    - GitHub tokens (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``, ``github_pat_``);
    - GitLab personal access tokens (``glpat-``);
    - Slack tokens (``xoxa-``, ``xoxb-``, ``xoxp-``, ``xoxr-``, ``xoxs-``) and webhook URLs;
    - Stripe secret and restricted keys (``sk_live_``, ``sk_test_``, ``rk_live_``, ``rk_test_``);
    - Google API keys (``AIza`` + 35 characters);
    - npm tokens (``npm_`` + 36), PyPI tokens (``pypi-AgEIcHlwaS5vcmc...``);
    - SendGrid keys (``SG.<22>.<43>``); OpenAI/Anthropic-style keys (``sk-`` / ``sk-proj-`` /
      ``sk-ant-`` + at least 32 characters);
    - a URL carrying a password (``scheme://user:password@host``; the mask ``***`` is not one).

    The list favours formats with a fixed, distinctive prefix: a false positive costs a
    reviewed opt-out, a miss costs a leaked credential in state and in every log.
"""

from __future__ import annotations

import decimal
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# --- Kubernetes quantities ------------------------------------------------------------

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE]?)"
)
_BINARY_SI = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
"""Kubernetes keeps ``Value()``/``MilliValue()`` in an int64; larger amounts are refused."""

# Enough precision for an int64 amount with 18 decimals of fraction, and room for big exponents.
_CONTEXT = decimal.Context(prec=200, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

QUANTITY_FIX = ("write a Kubernetes quantity: a number, optionally with a fraction, and a unit such as "
                "'500m', '1.5', '128Mi', '1.5Gi', '2G' or '1e3'")


def _quantity_hint(text: str) -> str:
    """Why ``text`` is not a quantity, in words (the usual mistakes first)."""
    stripped = text.strip()
    if not stripped:
        return "an empty quantity"
    if stripped != text:
        return "a quantity with spaces around it"
    if " " in text:
        return "a space between the number and the unit"
    lowered = re.fullmatch(r"[+-]?[0-9.]+(ki|mi|gi|ti|pi|ei|KI|MI|GI|TI|PI|EI|Kb|KB|Mb|MB|Gb|GB|K|b|B)", text)
    if lowered:
        return f"unit {lowered[1]!r} is not a Kubernetes unit (units are case-sensitive: Ki Mi Gi Ti Pi Ei, or k M G T P E)"
    if text.count(".") > 1:
        return "more than one decimal point"
    return "not a Kubernetes quantity"


def parse_quantity(text: str) -> decimal.Decimal:
    """The exact value of a Kubernetes quantity: ``"1.5Gi"`` -> ``Decimal(1610612736)``.

    Raises :class:`ValueError` (with a human message) on anything Kubernetes refuses.
    """
    if not isinstance(text, str):
        raise ValueError(f"a quantity is text, not {type(text).__name__}")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(_quantity_hint(text))
    number = decimal.Decimal(match["sign"] + (match["number"].rstrip(".") or "0"))
    suffix = match["suffix"]
    with decimal.localcontext(_CONTEXT):
        if suffix in _BINARY_SI:
            return number * _BINARY_SI[suffix]
        if suffix in _DECIMAL_SI:
            return number.scaleb(_DECIMAL_SI[suffix])
        exponent = int(suffix[1:])
        if abs(exponent) > _INT32:
            raise ValueError("the exponent does not fit Kubernetes' 32-bit exponent")
        return number.scaleb(exponent)


def _round_up(value: decimal.Decimal, what: str) -> int:
    with decimal.localcontext(_CONTEXT):
        if abs(value) > MAX_INT64:
            raise ValueError(f"{what} is larger than Kubernetes can hold (2^63-1)")
        return int(value.to_integral_value(rounding=decimal.ROUND_CEILING))


def cpu_millicores(text: str) -> int:
    """``"250m"`` -> 250, ``"1"`` -> 1000, ``"0.5"`` -> 500, ``"0.0001"`` -> 1 (rounded up like Kubernetes)."""
    return _round_up(parse_quantity(text) * 1000, "the CPU amount")


def memory_bytes(text: str) -> int:
    """``"128Mi"`` -> 134217728, ``"1.5Gi"`` -> 1610612736, ``"1e3"`` -> 1000 (rounded up to whole bytes)."""
    return _round_up(parse_quantity(text), "the memory amount")


# --- secret names and credential values ---------------------------------------------------

SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
"""Env/config names that say they hold a secret (``DB_PASSWORD``, ``STRIPE_API_KEY``)."""


def looks_like_secret_name(name: str) -> bool:
    """``DB_PASSWORD`` -> True, ``LOG_LEVEL`` -> False (a heuristic: see the per-name opt-out)."""
    return bool(SECRET_NAME.search(name))


_CREDENTIALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("an AWS secret access key", re.compile(
        r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("a JSON Web Token", re.compile(
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9_])(?:gh[opusr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a GitLab token", re.compile(r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Slack webhook URL", re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+")),
    ("a Stripe secret key", re.compile(r"(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}")),
    ("an npm token", re.compile(r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}")),
    ("a PyPI token", re.compile(r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}")),
    ("a SendGrid key", re.compile(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")),
    ("an API key (sk-...)", re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{32,}")),
    # Bounded scheme and userinfo, and a boundary before the scheme: linear on a megabyte of text.
    ("a password in a URL", re.compile(
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/?#\s@:]{0,256}:(?!\*\*\*@)[^/?#\s@]{1,256}@")),
)

CREDENTIAL_KINDS: tuple[str, ...] = tuple(kind for kind, _ in _CREDENTIALS)
"""Every credential format :func:`credential_kind` recognises (for docs and tests)."""


def credential_kind(value: str) -> str | None:
    """The kind of credential found in ``value`` (``"an AWS access key id"``), or ``None``."""
    for kind, pattern in _CREDENTIALS:
        if pattern.search(value):
            return kind
    return None


# --- URLs ------------------------------------------------------------------------------

_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@")
MASK = "***"


def url_userinfo(url: str) -> bool:
    """True when ``url`` carries a user (and maybe a password) before its host."""
    return bool(_URL_USERINFO.match(url))


def mask_url(url: str) -> str:
    """``postgres://app:s3cret@db:5432/x`` -> ``postgres://app:***@db:5432/x``.

    A user alone is masked too (``https://<token>@host`` is a common way to pass a token).
    """
    match = _URL_USERINFO.match(url)
    if match is None:
        return url
    user, sep, _ = match["userinfo"].partition(":")
    shown = f"{user}:{MASK}" if sep else MASK
    return f"{match['scheme']}{shown}@{url[match.end():]}"


# --- images ----------------------------------------------------------------------------

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?P<repo>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-zA-Z=_-]+))?"
)
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""The distribution spec's tag grammar, ``[\\w][\\w.-]{0,127}`` with ``\\w`` meaning ASCII word characters."""
MAX_IMAGE_NAME = 255

IMAGE_FIX = "write it as registry/repository@sha256:<64 hex digits>, e.g. 'ghcr.io/acme/api@sha256:3f5a...'"


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into repository (with registry), tag and digest."""

    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        """True when the image is pinned by digest (the tag, if any, is then informational)."""
        return self.digest is not None


def _image_hint(value: str) -> str:
    if not value:
        return "an empty image reference"
    if value != value.strip() or any(c.isspace() for c in value):
        return "an image reference with white space in it"
    if "://" in value:
        return "an image reference is not a URL (leave out the scheme)"
    if "@" in value:
        digest = value.rsplit("@", 1)[1]
        if not _SHA256.fullmatch(digest):
            return "the digest is not 'sha256:' followed by 64 lowercase hex digits"
    name = value.split("@", 1)[0]
    host = name.split("/", 1)[0]
    path = name.split("/", 1)[1] if "/" in name and (host == "localhost" or re.search(r"[.:]", host)) else name
    if path.rsplit(":", 1)[0] != path.rsplit(":", 1)[0].lower():
        return "the repository path has upper-case letters (only the registry host may)"
    if ":" in path and not _TAG.fullmatch(path.rsplit(":", 1)[1]):
        return "the tag may only hold letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')"
    if not value.isascii():
        return "an image reference is ASCII (a look-alike letter from another script is in it)"
    return "not an image reference"


def parse_image(value: str) -> ImageRef:
    """``ghcr.io/acme/api:1.2@sha256:...`` -> ``ImageRef("ghcr.io/acme/api", "1.2", "sha256:...")``.

    The grammar of the distribution reference (registry host with optional port, lowercase
    path components, tag, digest). Only ``sha256`` digests are accepted. Raises
    :class:`ValueError` with a human message.
    """
    match = _IMAGE.fullmatch(value) if isinstance(value, str) else None
    if match is None or (match["digest"] is not None and not _SHA256.fullmatch(match["digest"])):
        raise ValueError(_image_hint(value) if isinstance(value, str) else "an image reference is text")
    if len(match["repo"]) > MAX_IMAGE_NAME:
        raise ValueError(f"the repository name is {len(match['repo'])} characters, at most {MAX_IMAGE_NAME}")
    return ImageRef(match["repo"], match["tag"], match["digest"])


# --- opt-out reasons ---------------------------------------------------------------------

MIN_REASON_LENGTH = 20
MIN_REASON_WORDS = 3
MAX_REASON_LENGTH = 200
_PLACEHOLDERS = frozenset({"todo", "tbd", "n/a", "na", "none", "because", "needed", "required", "test",
                           "fixme", "xxx", "temp", "temporary", "later"})
REASON_FIX = (f"say why the default cannot be kept, in at least {MIN_REASON_WORDS} words and "
              f"{MIN_REASON_LENGTH} characters (a ticket helps), e.g. 'legacy agent needs root until OPS-42'")


def opt_out_reason_problem(reason: str) -> str | None:
    """What is wrong with an opt-out's reason, or ``None`` when it is a real reason.

    A real reason has at least 20 characters and 3 words, at most 200 characters, no control
    characters, and is not a placeholder (``todo``, ``because``) or one character repeated.
    """
    if not isinstance(reason, str):
        return "a reason is text"
    text = " ".join(reason.split())
    if len(text) < MIN_REASON_LENGTH:
        return f"the reason is {len(text)} characters, at least {MIN_REASON_LENGTH} are needed"
    if len(reason) > MAX_REASON_LENGTH:
        return f"the reason is {len(reason)} characters, at most {MAX_REASON_LENGTH} fit"
    control = control_characters(reason)
    if control:
        return f"the reason contains {control}"
    words = [w for w in re.split(r"[\s,;:.!?]+", text) if w]
    if len(words) < MIN_REASON_WORDS:
        return f"the reason has {len(words)} word(s), at least {MIN_REASON_WORDS} are needed"
    letters = [c.lower() for c in text if c.isalnum()]
    if len(set(letters)) <= 2:
        return "the reason is one character repeated"
    if all(w.lower().strip("'\"()-") in _PLACEHOLDERS for w in words):
        return "the reason is a placeholder"
    return None


# --- labels, annotations, control characters -----------------------------------------------

_LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
MAX_LABEL_VALUE = 63
MAX_ANNOTATIONS_BYTES = 256 * 1024
"""Kubernetes' limit on the total size of an object's annotations (keys and values)."""

LABEL_VALUE_FIX = ("use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit "
                   "(or leave it empty); put sentences in an annotation")
LABEL_KEY_FIX = ("use a name of at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or "
                 "digit, optionally after a DNS prefix and '/', e.g. 'team' or 'acme.com/team'")


def label_value_problem(value: object) -> str | None:
    """What Kubernetes refuses in a label value, or ``None``."""
    if not isinstance(value, str):
        return f"a label value is text, not {type(value).__name__}"
    if value == "":
        return None
    if len(value) > MAX_LABEL_VALUE:
        return f"the label value is {len(value)} characters, at most {MAX_LABEL_VALUE}"
    if not _LABEL_NAME.fullmatch(value):
        return "a label value may only hold letters, digits, '-', '_' and '.', and must start and end with a letter or digit"
    return None


def label_key_problem(key: object) -> str | None:
    """What Kubernetes refuses in a label (or annotation) key, or ``None``."""
    if not isinstance(key, str) or not key:
        return "a label key is non-empty text"
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return f"the key prefix {prefix!r} is not a lowercase DNS subdomain of at most 253 characters"
    if len(name) > 63:
        return f"the key name is {len(name)} characters, at most 63"
    if not _LABEL_NAME.fullmatch(name):
        return "the key name may only hold letters, digits, '-', '_' and '.', and must start and end with a letter or digit"
    return None


_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "backspace", 0x1B: "ESC", 0x7F: "DEL"}


def control_characters(value: str, *, allow: str = "\t\n\r") -> str | None:
    """Names the first control character in ``value`` (``"a NUL character (U+0000) at position 3"``), or ``None``.

    Tab, newline and carriage return are allowed unless ``allow`` says otherwise. The
    description never quotes the value itself (it may be a secret).
    """
    for index, char in enumerate(value):
        code = ord(char)
        if (code < 0x20 or 0x7F <= code <= 0x9F) and char not in allow:
            name = _CONTROL_NAMES.get(code, "control")
            return f"a {name} character (U+{code:04X}) at position {index}"
    return None


def annotations_size(annotations: Mapping[str, str]) -> int:
    """Bytes Kubernetes counts against the annotation limit (keys plus values, UTF-8)."""
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())


def annotations_size_problem(annotations: Mapping[str, str]) -> str | None:
    """``None`` when the annotations fit Kubernetes' 256 KiB total, else a message."""
    size = annotations_size(annotations)
    if size > MAX_ANNOTATIONS_BYTES:
        return f"annotations total {size} bytes, Kubernetes allows {MAX_ANNOTATIONS_BYTES} (256 KiB)"
    return None


# --- address ranges ----------------------------------------------------------------------------

PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "fe80::/10", "::1/128"))
"""Ranges no internet host is in (RFC 1918, shared address space, loopback, link-local, ULA)."""
BROAD_PREFIX = {4: 8, 6: 16}
"""A public range at least this wide (a /8 of IPv4: 16 million addresses) counts as open to the internet."""
METADATA_ADDRESSES = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fd00:ec2::254/128", "127.0.0.0/8",
                                                                 "::1/128", "0.0.0.0/32"))
"""Link-local (cloud instance metadata: 169.254.169.254, fd00:ec2::254) and loopback: addresses that reach
the node itself or its cloud credentials, never a service."""
METADATA_HOSTNAMES = ("metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal",
                      "metadata.azure.internal", "localhost")
"""Host names of cloud metadata services (and the node itself)."""


def _networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            continue
    return out


def open_to_internet(cidrs: Iterable[str]) -> str | None:
    """How a set of CIDR blocks opens a port to the internet, or ``None`` when it does not.

    Judged on the union, so an open range written as several smaller ones (``0.0.0.0/1`` plus
    ``128.0.0.0/1``) counts like ``0.0.0.0/0``; a single public range of a /8 or wider (IPv6: /16)
    counts too. Private, loopback and link-local ranges never do. Text that is not a CIDR is ignored.
    """
    networks = _networks(cidrs)
    for version, everything in ((4, ipaddress.ip_network("0.0.0.0/0")), (6, ipaddress.ip_network("::/0"))):
        same = [n for n in networks if n.version == version]
        merged = list(ipaddress.collapse_addresses(same))  # type: ignore[type-var]
        if everything in merged:
            shown = ", ".join(str(n) for n in same)
            return f"{shown} (together: {everything})" if len(same) > 1 else f"{shown} (every address)"
        for network in merged:
            if network.prefixlen <= BROAD_PREFIX[version] and not any(
                    network.subnet_of(p) for p in PRIVATE_NETWORKS if p.version == version):  # type: ignore[arg-type]
                return f"{network} (a public range of {network.num_addresses:,} addresses)"
    return None


def metadata_address(value: str) -> str | None:
    """What a host address or name reaches when it is the node or its cloud metadata service
    (``169.254.169.254``, ``metadata.google.internal``, ``localhost``), else ``None``."""
    text = str(value).strip().strip("[]").rstrip(".").lower()
    if text in METADATA_HOSTNAMES or text.endswith((".metadata.google.internal", ".localhost")):
        return f"{value!r} names the node itself or a cloud metadata service"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if any(address in network for network in METADATA_ADDRESSES):
        return f"{value!r} is a link-local or loopback address (the node itself, or the cloud metadata service)"
    return None
