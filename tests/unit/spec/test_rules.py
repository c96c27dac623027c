"""The shared rules (components/rules.py): Kubernetes' quantity grammar, secret detection,
credential formats, URLs, images, opt-out reasons, labels and control characters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from immutable_infra import fields, rules

# (text, exact value) -- every form resource.Quantity documents.
VALID_QUANTITIES = [
    ("0", Decimal(0)),
    ("1", Decimal(1)),
    ("+1", Decimal(1)),
    ("-1", Decimal(-1)),
    ("0.1", Decimal("0.1")),
    (".5", Decimal("0.5")),
    ("1.", Decimal(1)),
    ("500m", Decimal("0.5")),
    ("250m", Decimal("0.25")),
    ("100n", Decimal("1E-7")),
    ("10u", Decimal("0.00001")),
    ("1k", Decimal(1000)),
    ("2M", Decimal(2_000_000)),
    ("1G", Decimal(10**9)),
    ("1T", Decimal(10**12)),
    ("1P", Decimal(10**15)),
    ("1E", Decimal(10**18)),
    ("1Ki", Decimal(1024)),
    ("128Mi", Decimal(128 * 2**20)),
    ("1.5Gi", Decimal(3 * 2**29)),
    ("2Ti", Decimal(2 * 2**40)),
    ("1Pi", Decimal(2**50)),
    ("1Ei", Decimal(2**60)),
    ("0.5Ki", Decimal(512)),
    ("1e3", Decimal(1000)),
    ("1E3", Decimal(1000)),
    ("12E6", Decimal(12_000_000)),
    ("1e-3", Decimal("0.001")),
    ("1.5e+2", Decimal(150)),
    ("+.5e1", Decimal(5)),
    ("-2.5Mi", Decimal(-5 * 2**19)),
    ("007", Decimal(7)),
]

INVALID_QUANTITIES = [
    "", " ", "1 Gi", " 1", "1 ", "1gi", "1GB", "1Kb", "1K", "1b", "Gi", "m", "1..5", "1.5.5", "--1", "+-1",
    "1e", "1e1.5", "1Ki1", "1mi", "1iK", "0x10", "1,5", "1_000", ".", "+", "-", "e3", "1Gi ", "\uff11", "1e99999999999",
    "1.5 m", "∞", "NaN", "inf",
]


@pytest.mark.parametrize(("text", "value"), VALID_QUANTITIES)
def test_valid_quantities_have_their_exact_value(text: str, value: Decimal) -> None:
    assert rules.parse_quantity(text) == value


@pytest.mark.parametrize("text", INVALID_QUANTITIES)
def test_invalid_quantities_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(ValueError, match=r"\w") as info:
        rules.parse_quantity(text)
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize(("text", "millicores"), [
    ("1", 1000), ("0.5", 500), ("250m", 250), ("1.5", 1500), ("0.0001", 1), ("1e-3", 1), ("2k", 2_000_000),
    ("100u", 1), ("1500u", 2),
])
def test_cpu_millicores_round_up_like_kubernetes(text: str, millicores: int) -> None:
    assert rules.cpu_millicores(text) == millicores


@pytest.mark.parametrize(("text", "size"), [
    ("128Mi", 128 * 2**20), ("1.5Gi", 1610612736), ("1e3", 1000), ("1G", 10**9), ("1Ei", 2**60), ("0.5", 1),
    ("1500m", 2),
])
def test_memory_bytes(text: str, size: int) -> None:
    assert rules.memory_bytes(text) == size


def test_amounts_beyond_int64_are_refused() -> None:
    with pytest.raises(ValueError, match="larger than Kubernetes"):
        rules.memory_bytes("9Ei")  # 9 * 2^60 > 2^63 - 1
    with pytest.raises(ValueError, match="larger than Kubernetes"):
        rules.cpu_millicores("1e20")


def test_unit_mistakes_get_specific_messages() -> None:
    with pytest.raises(ValueError, match="case-sensitive"):
        rules.parse_quantity("1gi")
    with pytest.raises(ValueError, match="space between"):
        rules.parse_quantity("1 Gi")


def test_fields_keep_their_names_on_top_of_the_rules() -> None:
    assert fields.cpu_millicores("1.5") == 1500
    assert fields.memory_bytes("1.5Gi") == 1610612736
    assert fields.parse_image("ghcr.io/acme/api:1.0").tag == "1.0"
    assert fields.ImageRef is rules.ImageRef


# --- secret names and credentials -------------------------------------------------------------

@pytest.mark.parametrize("name", ["DB_PASSWORD", "db_passwd", "API_KEY", "STRIPE_APIKEY", "GITHUB_TOKEN",
                                  "CLIENT_SECRET", "SSH_PRIVATE_KEY", "AWS_CREDENTIALS"])
def test_secret_looking_names(name: str) -> None:
    assert rules.looks_like_secret_name(name)


@pytest.mark.parametrize("name", ["LOG_LEVEL", "PORT", "DATABASE_HOST", "KEYBOARD_LAYOUT", "FEATURE_FLAGS"])
def test_plain_names(name: str) -> None:
    assert not rules.looks_like_secret_name(name)


AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CREDENTIALS = [
    ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
    ("id=ASIAY34FZKBOKMUTVV7A;", "an AWS access key id"),
    (f"aws_secret_access_key = {AWS_SECRET}", "an AWS secret access key"),
    (f'AWS_SECRET_ACCESS_KEY="{AWS_SECRET}"', "an AWS secret access key"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "a private key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "a private key"),
    ("-----BEGIN PRIVATE KEY-----", "a private key"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "a private key"),
    ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "a JSON Web Token"),
    ("ghp_" + "a" * 36, "a GitHub token"),
    ("ghs_" + "B1" * 18, "a GitHub token"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "a GitHub token"),
    ("glpat-abcdefghij0123456789", "a GitLab token"),
    ("xoxb-1234567890-abcdefghij", "a Slack token"),
    ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "a Slack webhook URL"),
    ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "a Stripe secret key"),
    ("rk_test_" + "4eC39HqLyjWDarjtT1zdp7dc", "a Stripe secret key"),
    ("AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "a Google API key"),
    ("npm_" + "x" * 36, "an npm token"),
    ("pypi-AgEIcHlwaS5vcmc" + "A" * 60, "a PyPI token"),
    ("SG." + "a" * 22 + "." + "b" * 43, "a SendGrid key"),
    ("sk-proj-" + "z" * 40, "an API key (sk-...)"),
    ("postgres://app:hunter2@db.internal:5432/app", "a password in a URL"),
]


@pytest.mark.parametrize(("value", "kind"), CREDENTIALS)
def test_credential_formats(value: str, kind: str) -> None:
    assert rules.credential_kind(value) == kind
    assert kind in rules.CREDENTIAL_KINDS


@pytest.mark.parametrize("value", [
    "", "hello world", "AKIA-not-a-key", "XAKIAIOSFODNN7EXAMPLE1", "https://db.internal:5432/app", "task-runner",
    "desk_live_demo", "eyJ-not-a-jwt", "postgres://db.internal/app", "ghp_short", "info@example.com",
    "https://user@example.com/x", "a" * 40,
])
def test_ordinary_values_are_not_credentials(value: str) -> None:
    assert rules.credential_kind(value) is None


# --- URLs ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "has", "masked"), [
    ("postgres://app:hunter2@db:5432/x", True, "postgres://app:***@db:5432/x"),
    ("https://tok3n@github.com/acme/repo", True, "https://***@github.com/acme/repo"),
    ("redis://:p@ss@cache:6379", True, "redis://:***@cache:6379"),
    ("https://example.com/a@b", False, "https://example.com/a@b"),
    ("https://example.com:8443/x", False, "https://example.com:8443/x"),
])
def test_url_userinfo_and_masking(url: str, has: bool, masked: str) -> None:
    assert rules.url_userinfo(url) is has
    assert rules.mask_url(url) == masked
    assert "hunter2" not in rules.mask_url(url) and "p@ss" not in rules.mask_url(url)


# --- images -------------------------------------------------------------------------------

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("ref", "repo", "tag", "digest"), [
    ("nginx", "nginx", None, None),
    ("nginx:1.25", "nginx", "1.25", None),
    (f"ghcr.io/acme/api@{DIGEST}", "ghcr.io/acme/api", None, DIGEST),
    (f"localhost:5000/app:dev@{DIGEST}", "localhost:5000/app", "dev", DIGEST),
    (f"registry.example.com:443/team/app@{DIGEST}", "registry.example.com:443/team/app", None, DIGEST),
    ("Registry.Example.com/app:1", "Registry.Example.com/app", "1", None),
    ("[::1]:5000/app:1", "[::1]:5000/app", "1", None),
    ("a/b__c/d--e/f.g:V_1.0-rc", "a/b__c/d--e/f.g", "V_1.0-rc", None),
])
def test_image_references(ref: str, repo: str, tag: str | None, digest: str | None) -> None:
    parsed = rules.parse_image(ref)
    assert (parsed.repository, parsed.tag, parsed.digest) == (repo, tag, digest)
    assert parsed.pinned is (digest is not None)


@pytest.mark.parametrize(("ref", "hint"), [
    ("", "empty"),
    ("nginx :1", "white space"),
    ("https://ghcr.io/acme/api", "not a URL"),
    ("acme/api@sha256:abc", "64 lowercase hex"),
    (f"acme/api@sha512:{'a' * 128}", "sha256"),
    ("ghcr.io/Acme/API:1", "upper-case"),
    ("acme/api:-bad", "tag may only"),
    ("acme//api", "not an image reference"),
    ("a" * 256, "at most 255"),
])
def test_bad_image_references_say_why(ref: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        rules.parse_image(ref)


# --- opt-out reasons --------------------------------------------------------------------------

@pytest.mark.parametrize("reason", [
    "legacy image needs root", "incident 4711 debugging", "a legacy agent needs it until ticket OPS-42 lands",
    "local debugging only", "x" * 10 + " two three",
])
def test_real_reasons(reason: str) -> None:
    assert rules.opt_out_reason_problem(reason) is None


@pytest.mark.parametrize(("reason", "hint"), [
    ("because", "at least 20"), ("x" * 30, "word"), ("a a a a a a a a a a a a", "repeated"),
    ("todo todo todo todo todo todo", "placeholder"), ("tbd, later, temporary, fixme", "placeholder"),
    ("supercalifragilistic expialidocious", "word"), ("line one\x00 and more words here", "NUL"),
    ("word " * 50, "at most 200"),
])
def test_reasons_that_are_not_reasons(reason: str, hint: str) -> None:
    problem = rules.opt_out_reason_problem(reason)
    assert problem is not None and hint in problem


# --- labels, annotations, control characters ----------------------------------------------------

@pytest.mark.parametrize("value", ["", "a", "web", "v1.2.3", "A_b-c.D", "x" * 63])
def test_valid_label_values(value: str) -> None:
    assert rules.label_value_problem(value) is None


@pytest.mark.parametrize("value", ["-a", "a-", "has space", "x" * 64, "a/b", "ü", 5])
def test_invalid_label_values(value: object) -> None:
    assert rules.label_value_problem(value)


@pytest.mark.parametrize("key", ["app", "acme.com/team", "a.b-c_d", "k" * 63, f"{'p' * 253}/n"])
def test_valid_label_keys(key: str) -> None:
    assert rules.label_key_problem(key) is None


@pytest.mark.parametrize("key", ["", "/x", "Acme.com/x", "a/b/c", "-x", "k" * 64, f"{'p' * 254}/n", "a b"])
def test_invalid_label_keys(key: str) -> None:
    assert rules.label_key_problem(key)


def test_control_characters() -> None:
    assert rules.control_characters("plain text\twith tab\nand newline") is None
    assert rules.control_characters("a\x00b") == "a NUL character (U+0000) at position 1"
    assert "ESC" in (rules.control_characters("\x1b[31m") or "")
    assert "U+0085" in (rules.control_characters("x\x85") or "")
    assert rules.control_characters("a\nb", allow="") == "a control character (U+000A) at position 1"


def test_annotation_size_limit() -> None:
    fits = {"k": "v" * (rules.MAX_ANNOTATIONS_BYTES - 1)}
    assert rules.annotations_size_problem(fits) is None
    assert "256 KiB" in (rules.annotations_size_problem({"k": "v" * rules.MAX_ANNOTATIONS_BYTES}) or "")


def test_rules_stay_pure() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(rules))
    imported = {n.names[0].name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"pydantic", "pulumi", "pydantic_core"}


@pytest.mark.parametrize("text", ["x" * 2**20, "a:" * 2**19, "a://" + ":" * 2**19, "-" * 2**20, "AKIA" * 2**18,
                                  "https://" + "a" * 2**17 + ":" + "b" * 2**17, "eyJ" * 2**18])
def test_scans_are_linear_on_a_megabyte(text: str) -> None:
    import time

    start = time.monotonic()
    rules.credential_kind(text)
    rules.control_characters(text)
    rules.mask_url(text)
    assert time.monotonic() - start < 3, "a catastrophic regular expression"
