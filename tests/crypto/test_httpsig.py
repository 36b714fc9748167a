"""HTTP Message Signatures (RFC 9421) with Ed25519, and the RFC 8941 dictionaries they travel in."""

from __future__ import annotations

import base64
import contextlib
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from hanoinet.crypto import httpsig
from hanoinet.crypto.httpsig import (
    BLOB_PULL_TAG,
    SignatureRefused,
    VerifiedSignature,
    sign_request,
    verify_request,
)
from hanoinet.errors import NotFound

#: The blob pull profile of docs/evidence.md, "Signed blob pulls (RFC 9421)" (hanoinet.evidence.transfer uses the same).
PULL_COMPONENTS = ("@method", "@target-uri", "authorization", "range")
PULL_MAX_AGE = timedelta(seconds=60)

# --- RFC 9421 appendix B -----------------------------------------------------------------------------------

# B.1.4, "Example Ed25519 Test Key" (test-key-ed25519).
RFC_PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
RFC_PRIVATE_PEM = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""


def _private(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _public(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    assert isinstance(key, Ed25519PublicKey)
    return key


RFC_KEY = _private(RFC_PRIVATE_PEM)
RFC_PUBLIC = _public(RFC_PUBLIC_PEM)
#: The RFC 7638 thumbprint of the B.1.4 key: the keyid a hanoinet node would use for it.
RFC_KID = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"

# B.2, the test request, as far as B.2.6 covers it.
B2_URL = "http://example.com/foo?param=Value&Pet=dog"
B2_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Length": "18",
}
# B.2.6, "Signing a Request Using ed25519" (RFC 8792 line wrapping undone).
B26_SIGNATURE_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)


def test_rfc9421_b14_key_pair() -> None:
    assert RFC_KEY.public_key() == RFC_PUBLIC


def test_rfc9421_b26_signature_base_and_signature() -> None:
    inner = httpsig._parse_dictionary(B26_SIGNATURE_INPUT)["sig-b26"]
    assert isinstance(inner, httpsig._InnerList)
    assert httpsig._serialize_member("sig-b26", inner) == B26_SIGNATURE_INPUT
    names = tuple(str(item.value) for item in inner.items)
    base = httpsig._signature_base("POST", B2_URL, httpsig._field_lines(B2_HEADERS), names,
                                   httpsig._serialize_inner_list(inner))
    assert base == B26_BASE
    signature = httpsig._parse_dictionary(B26_SIGNATURE)["sig-b26"]
    assert isinstance(signature, httpsig._Item)
    # Ed25519 is deterministic: the RFC's signature is reproduced byte for byte.
    assert RFC_KEY.sign(base.encode()) == signature.value
    assert isinstance(signature.value, bytes)
    RFC_PUBLIC.verify(signature.value, base.encode())


def test_rfc9421_b26_signature_is_refused_by_the_blob_pull_profile() -> None:
    """B.2.6 has no alg, expires nor tag: valid RFC 9421, but not a blob pull signature."""
    with pytest.raises(SignatureRefused) as caught:
        verify_request("POST", B2_URL, {**B2_HEADERS, "Signature-Input": B26_SIGNATURE_INPUT,
                                        "Signature": B26_SIGNATURE},
                       resolve_key=lambda _: RFC_PUBLIC, required=(), now=datetime.fromtimestamp(1618884473, UTC),
                       max_age=PULL_MAX_AGE, label="sig-b26")
    assert caught.value.reason == "bad_parameters"
    assert "lacks the parameters alg, expires, tag" in caught.value.message


# RFC 9421 s. 2.2.2 to 2.2.7 examples, and the RFC 9110 s. 4.2.3 normalization they call for.
@pytest.mark.parametrize(("url", "name", "value"), [
    ("https://www.example.com/path?param=value", "@target-uri", "https://www.example.com/path?param=value"),
    ("https://www.example.com/path?param=value", "@authority", "www.example.com"),
    ("https://www.example.com/path?param=value", "@path", "/path"),
    ("https://www.example.com/path?param=value&foo=bar&baz=bat%2Dman", "@query",
     "?param=value&foo=bar&baz=bat%2Dman"),
    ("https://www.example.com/path?queryString", "@query", "?queryString"),
    ("https://www.example.com/path", "@query", "?"),
    ("https://www.example.com/path?", "@query", "?"),
    ("HTTPS://WWW.Example.COM:443", "@target-uri", "https://www.example.com/"),
    ("http://Example.com:80/a", "@authority", "example.com"),
    ("http://example.com:443/a", "@authority", "example.com:443"),
    ("https://example.com:80/a", "@authority", "example.com:80"),
    ("https://example.com:/a", "@authority", "example.com"),
    ("https://[2001:DB8::1]:8443/", "@authority", "[2001:db8::1]:8443"),
    ("https://example.com", "@path", "/"),
    ("https://example.com/A/./b/../%7e?Q=%41", "@path", "/A/./b/../%7e"),
    ("https://example.com/A/./b/../%7e?Q=%41", "@query", "?Q=%41"),
    ("https://example.com/p?", "@target-uri", "https://example.com/p?"),
])
def test_derived_components(url: str, name: str, value: str) -> None:
    base = httpsig._signature_base("GET", url, {}, (name,), "()")
    assert base == f'"{name}": {value}\n"@signature-params": ()'


def test_method_is_taken_as_sent() -> None:
    """RFC 9421 s. 2.2.1: the method is case-sensitive and not transformed."""
    assert httpsig._signature_base("get", "https://e.example/", {}, ("@method",), "()").startswith(
        '"@method": get\n')


@pytest.mark.parametrize(("headers", "value"), [
    ({"X-Value": "  padded\t "}, "padded"),
    ({"X-Value": "folded\r\n  line"}, "folded line"),
    ({"X-Value": ""}, ""),
    ({"X-Value": "a", "x-value": "b ", "X-VALUE": " c"}, "a, b, c"),
    (Headers(raw=[(b"x-value", b"one"), (b"x-value", b"two")]), "one, two"),
    (httpx.Headers([("X-Value", "one"), ("x-value", "two")]), "one, two"),
])
def test_field_values(headers: Mapping[str, str], value: str) -> None:
    """RFC 9421 s. 2.1: lowercased names, trimmed values, obs-fold as a space, lines joined with ", "."""
    base = httpsig._signature_base("GET", "https://e.example/", httpsig._field_lines(headers), ("x-value",), "()")
    assert base == f'"x-value": {value}\n"@signature-params": ()'


# --- cross-check with an independent implementation ------------------------------------------------------
# Produced by http-message-signatures 3.0.0 (PyPI, pyauth/http-message-signatures) with the B.1.4 key, its
# HTTPMessageSigner and algorithms.ED25519, which emits the parameters in the order sign_request does.

@dataclass(frozen=True)
class Vector:
    method: str
    url: str
    headers: dict[str, str]
    components: tuple[str, ...]
    keyid: str
    created: int
    expires: int
    nonce: str | None
    tag: str
    label: str
    signature_input: str
    signature: str


PYHMS_VECTORS = [
    Vector(
        "GET", "https://node.fra.example/federation/v1/evidence/offers/3f1c2a9e-5b7d-4e21-9c3a-8d6f0b1e2a47/files/1",
        {"Authorization": "Capability eyJhbGciOiJFZDI1NTE5In0.eyJleGFtcGxlIjp0cnVlfQ.c2lnbmF0dXJl",
         "Range": "bytes=0-67108863"},
        PULL_COMPONENTS, RFC_KID, 1767225600, 1767225660, None, BLOB_PULL_TAG, "sig1",
        'sig1=("@method" "@target-uri" "authorization" "range");created=1767225600'
        ';keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=1767225660'
        ';tag="hanoinet-blob-pull"',
        "sig1=:DlXt7rslNJBMY7x/FSd8rYFIdQFfyLhcZImcb6+mgYm0H1/c+1FVzl5gDNS2V5k2zUmRei0jXJ07MJvnlE7rDg==:",
    ),
    Vector(
        "POST", "https://node.example:8443/a%2Fb/c?x=1&y=%20&z",
        {"Content-Type": "application/json", "X-Padded": "  a ,\tb  "},
        ("@target-uri", "@authority", "@path", "@query", "@method", "x-padded", "content-type"),
        "test-key-ed25519", 1618884473, 1618884773, None, BLOB_PULL_TAG, "sig1",
        'sig1=("@target-uri" "@authority" "@path" "@query" "@method" "x-padded" "content-type")'
        ';created=1618884473;keyid="test-key-ed25519";alg="ed25519";expires=1618884773;tag="hanoinet-blob-pull"',
        "sig1=:IXGMkQCPmTPrUFsUpOjyqL3o8XeACfnSTdPWNp+78AYtUM/m2UzpCAisOiEne5I4cp16nKbWTLQRZEfUEAGsDg==:",
    ),
    Vector(
        "GET", "http://example.com:80", {}, ("@authority", "@path", "@query"), "k", 1, 2, "n", "t", "x-1",
        'x-1=("@authority" "@path" "@query");created=1;keyid="k";alg="ed25519";expires=2;nonce="n";tag="t"',
        "x-1=:BKiZzgAHXPq3xNbEalCqjlVc0+w2K4w5vfoguJdsNFmK5ZXpxPtCZWKnpm4P3atUcYCIgFR9UXBufBCyi/JnAg==:",
    ),
]


@pytest.mark.parametrize("v", PYHMS_VECTORS, ids=["blob-pull", "target-uri", "empty-path"])
def test_independent_implementation_vectors(v: Vector) -> None:
    created = datetime.fromtimestamp(v.created, UTC)
    signed = sign_request(v.method, v.url, v.headers, key=RFC_KEY, keyid=v.keyid, components=v.components,
                          created=created, expires=datetime.fromtimestamp(v.expires, UTC), nonce=v.nonce,
                          tag=v.tag, label=v.label)
    assert signed == {"Signature-Input": v.signature_input, "Signature": v.signature}
    verified = verify_request(
        v.method, v.url, {**v.headers, "Signature-Input": v.signature_input, "Signature": v.signature},
        resolve_key={v.keyid: RFC_PUBLIC}.__getitem__, required=v.components, now=created,
        max_age=PULL_MAX_AGE, tag=v.tag, label=v.label,
    )
    assert verified == VerifiedSignature(v.keyid, created, datetime.fromtimestamp(v.expires, UTC), v.nonce,
                                         v.components)


# --- signing and verifying a blob pull ---------------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
KID = "node-key-1"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
URL = "https://node.deu.example/federation/v1/evidence/offers/9b2d4c1e-0f3a-4d5b-8e6f-7a1b2c3d4e5f/files/2"
HEADERS = {"Host": "node.deu.example", "Range": "bytes=67108864-134217727", "Authorization": "Capability c.a.p"}


def resolve(keyid: str) -> Ed25519PublicKey:
    return {KID: KEY.public_key()}[keyid]


def signed(
    method: str = "GET", url: str = URL, headers: Mapping[str, str] = HEADERS, *, key: Ed25519PrivateKey = KEY,
    components: tuple[str, ...] = PULL_COMPONENTS, created: datetime = NOW, lifetime: int = 60,
    tag: str = BLOB_PULL_TAG,
) -> dict[str, str]:
    """The headers with a signature added."""
    sig = sign_request(method, url, headers, key=key, keyid=KID, components=components, created=created,
                       expires=created + timedelta(seconds=lifetime), nonce="n-1", tag=tag)
    return {**headers, **sig}


def verify(
    headers: Mapping[str, str], method: str = "GET", url: str = URL, *, now: datetime = NOW,
    resolve_key: Callable[[str], Ed25519PublicKey] = resolve, required: tuple[str, ...] = PULL_COMPONENTS,
) -> VerifiedSignature:
    return verify_request(method, url, headers, resolve_key=resolve_key, required=required, now=now,
                          max_age=PULL_MAX_AGE)


def refusal(headers: Mapping[str, str], method: str = "GET", url: str = URL, **kwargs: object) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as caught:
        verify(headers, method, url, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == "signature_refused"
    assert caught.value.http_status == 401
    return caught.value


def test_sign_and_verify() -> None:
    headers = signed()
    assert headers["Signature-Input"] == (
        'sig1=("@method" "@target-uri" "authorization" "range");created=1772366400'
        ';keyid="node-key-1";alg="ed25519";expires=1772366460;nonce="n-1";tag="hanoinet-blob-pull"'
    )
    assert verify(headers) == VerifiedSignature(
        keyid=KID, created=NOW, expires=NOW + timedelta(seconds=60), nonce="n-1", components=PULL_COMPONENTS
    )


def test_header_names_are_case_insensitive() -> None:
    headers = {k.upper(): v for k, v in signed().items()}
    assert verify(headers).keyid == KID
    assert verify({k.lower(): v for k, v in signed().items()}, required=("RANGE", "Authorization")).keyid == KID


def test_created_and_expires_are_whole_seconds() -> None:
    verified = verify(signed(created=NOW + timedelta(milliseconds=999)))
    assert verified.created == NOW


def test_other_signatures_in_the_fields_are_left_alone() -> None:
    headers = signed()
    headers["Signature-Input"] = 'other=("@method");created=1, ' + headers["Signature-Input"]
    headers["Signature"] = "other=:AAAA:, " + headers["Signature"]
    assert verify(headers).keyid == KID


def test_fields_split_over_several_lines() -> None:
    headers = signed()
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items() if k not in ("Signature", "Range")]
    raw += [(b"signature", b"other=:AAAA:"), (b"signature", headers["Signature"].encode())]
    raw += [(b"range", headers["Range"].encode())]
    assert verify(Headers(raw=raw)).keyid == KID


# --- every refusal -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Signature-Input", "Signature"])
def test_missing_header(name: str) -> None:
    headers = signed()
    del headers[name]
    error = refusal(headers)
    assert error.reason == "missing_header"
    assert error.message == f"the request has no {name} header"


@pytest.mark.parametrize(("name", "value", "detail"), [
    ("Signature-Input", "sig1=(", "expected an item"),
    ("Signature-Input", 'sig1=("@method"', "expected ' ' or ')'"),
    ("Signature-Input", 'sig1=("@method");created=1.5', "decimals are not supported"),
    ("Signature-Input", 'sig1=("@method");created=1;created=2', "duplicate parameter 'created'"),
    ("Signature-Input", 'sig1=("@method"), sig1=("@path")', "duplicate key 'sig1'"),
    ("Signature-Input", 'sig1=("@method"),', "trailing ','"),
    ("Signature-Input", 'Sig1=("@method")', "expected a dictionary key"),
    ("Signature-Input", 'sig1=("caf\u00e9")', "non-ASCII"),
    ("Signature-Input", 'sig1=("a\\n")', "invalid escape"),
    ("Signature-Input", 'sig1=("open)', "unterminated string"),
    ("Signature-Input", "sig1=(1234567890123456)", "integer longer than 15 digits"),
    ("Signature-Input", "sig1=?2", "expected ?0 or ?1"),
    ("Signature-Input", "sig1=\u0020", "expected an item"),
    ("Signature", "sig1=:AAA:", "not padded base64"),
    ("Signature", "sig1=:AA-_:", "not padded base64"),
    ("Signature", "sig1=:AB==:", "not canonical base64"),
    ("Signature", "sig1=:AAAA", "unterminated byte sequence"),
])
def test_malformed_structured_field(name: str, value: str, detail: str) -> None:
    error = refusal({**signed(), name: value})
    assert error.reason == "malformed"
    assert error.message.startswith(f"{name} is not a valid structured field dictionary: ")
    assert detail in error.message


@pytest.mark.parametrize(("name", "value", "detail"), [
    ("Signature-Input", "sig1=:AAAA:", "Signature-Input member sig1 is not an inner list"),
    ("Signature-Input", "sig1", "Signature-Input member sig1 is not an inner list"),
    ("Signature", 'sig1=("@method")', "Signature member sig1 is not a byte sequence"),
    ("Signature", 'sig1="AAAA"', "Signature member sig1 is not a byte sequence"),
    ("Signature", "sig1=:AAAA:", "Signature member sig1 is 3 bytes; an Ed25519 signature is 64"),
])
def test_malformed_members(name: str, value: str, detail: str) -> None:
    error = refusal({**signed(), name: value})
    assert error.reason == "malformed"
    assert detail in error.message


@pytest.mark.parametrize("name", ["Signature-Input", "Signature"])
def test_label_absent(name: str) -> None:
    headers = signed()
    headers[name] = headers[name].replace("sig1=", "sig2=")
    error = refusal(headers)
    assert error.reason == "label_absent"
    assert error.message == f"{name} has no member sig1 (it has: sig2)"


def test_required_component_not_covered() -> None:
    headers = signed(components=("@method", "@authority", "@path", "@query", "range"))
    error = refusal(headers)
    assert error.reason == "not_covered"
    assert error.message == ("signature sig1 does not cover @target-uri, authorization (it covers @method, "
                             "@authority, @path, @query, range)")


def _with_params(params: str) -> dict[str, str]:
    """Signed headers whose parameters are replaced (the signature then no longer matters)."""
    headers = signed()
    headers["Signature-Input"] = headers["Signature-Input"].split(";", 1)[0] + params
    return headers


@pytest.mark.parametrize(("params", "reason", "message"), [
    (';created=1772366400;keyid="node-key-1";alg="rsa-pss-sha512";expires=1772366460;tag="hanoinet-blob-pull"',
     "bad_alg", "signature sig1 has alg 'rsa-pss-sha512'; only 'ed25519' is accepted"),
    (';created=1772366400;keyid="node-key-1";alg="ed25519";expires=1772366460;tag="other-purpose"',
     "wrong_tag", "signature sig1 has tag 'other-purpose', expected 'hanoinet-blob-pull'"),
    (';created=1772366400;keyid="node-key-1";expires=1772366460;tag="hanoinet-blob-pull"',
     "bad_parameters", "signature sig1 lacks the parameters alg"),
    (';created=1772366400;keyid="node-key-1";alg="ed25519";expires=1772366460;tag="hanoinet-blob-pull";x="1"',
     "bad_parameters", "signature sig1 has the unsupported parameter 'x'"),
    (';created="1772366400";keyid="node-key-1";alg="ed25519";expires=1772366460;tag="hanoinet-blob-pull"',
     "bad_parameters", "signature sig1 parameter created must be an integer, got '1772366400'"),
    (';created=1772366400;keyid=node;alg="ed25519";expires=1772366460;tag="hanoinet-blob-pull"',
     "bad_parameters", "signature sig1 parameter keyid must be a string, got 'node'"),
    (';created=1772366400;keyid="node-key-1";alg="ed25519";expires=?1;tag="hanoinet-blob-pull"',
     "bad_parameters", "signature sig1 parameter expires must be an integer, got True"),
    (';created=1772366400;keyid="node-key-1";alg="ed25519";expires=1772366400;tag="hanoinet-blob-pull"',
     "bad_parameters", "signature sig1 has created=1772366400 and expires=1772366400"),
])
def test_bad_parameters(params: str, reason: str, message: str) -> None:
    error = refusal(_with_params(params))
    assert error.reason == reason
    assert error.message.startswith(message)


@pytest.mark.parametrize(("components", "message"), [
    ('("@method" "@method")', "component '@method' is listed twice"),
    ('("@request-target")', "derived component '@request-target' is not supported"),
    ('("Range")', "component 'Range' is not a lowercase HTTP field name"),
    ('("range";sf)', "component 'range' has the parameters sf; none are supported"),
    ("(range)", "lists 'range', which is not a component identifier"),
    ("(1)", "lists 1, which is not a component identifier"),
])
def test_bad_component_identifiers(components: str, message: str) -> None:
    headers = signed()
    headers["Signature-Input"] = "sig1=" + components + ";" + headers["Signature-Input"].split(";", 1)[1]
    error = refusal(headers, required=())
    assert error.reason == "bad_component"
    assert message in error.message


def test_unknown_keyid() -> None:
    error = refusal(signed(), resolve_key=lambda kid: {}[kid])
    assert error.reason == "unknown_key"
    assert error.message.startswith("signature sig1 names keyid 'node-key-1', which is not accepted here")

    def not_found(kid: str) -> Ed25519PublicKey:
        raise NotFound(f"no sig key {kid} in the directory")

    error = refusal(signed(), resolve_key=not_found)
    assert error.reason == "unknown_key"
    assert error.message.endswith("no sig key node-key-1 in the directory")


def test_resolver_faults_propagate() -> None:
    def broken(kid: str) -> Ed25519PublicKey:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        verify(signed(), resolve_key=broken)


def test_created_in_the_future() -> None:
    assert verify(signed(created=NOW + timedelta(seconds=5))).created == NOW + timedelta(seconds=5)
    error = refusal(signed(created=NOW + timedelta(seconds=6)))
    assert error.reason == "from_future"
    assert error.message == ("signature sig1 was created at 1772366406, 6 s ahead of this node's clock "
                             "(more than the 5 s allowed)")


def test_expired() -> None:
    assert verify(signed(), now=NOW + timedelta(seconds=59)).keyid == KID
    error = refusal(signed(), now=NOW + timedelta(seconds=60))
    assert error.reason == "expired"
    assert error.message == "signature sig1 expired at 1772366460, 0 s ago"


def test_too_old() -> None:
    long_lived = signed(lifetime=3600)
    assert verify(long_lived, now=NOW + PULL_MAX_AGE).keyid == KID
    error = refusal(long_lived, now=NOW + PULL_MAX_AGE + timedelta(seconds=1))
    assert error.reason == "too_old"
    assert error.message == "signature sig1 was created 61 s ago, more than the 60 s accepted"


def test_wrong_tag() -> None:
    error = refusal(signed(tag="hanoinet-other"))
    assert error.reason == "wrong_tag"


def test_signed_by_another_key() -> None:
    error = refusal(signed(key=OTHER_KEY))
    assert error.reason == "bad_signature"
    assert error.message == (
        "signature sig1 does not verify with key 'node-key-1' over (@method @target-uri authorization range): "
        "the request differs from what was signed, or another key signed it"
    )


@pytest.mark.parametrize(("method", "url", "change"), [
    ("HEAD", URL, {}),
    ("get", URL, {}),
    ("GET", URL.replace("/files/2", "/files/3"), {}),
    ("GET", URL + "?x=1", {}),
    ("GET", URL.replace("https:", "http:"), {}),
    ("GET", URL.replace("node.deu.example", "node.deu.example:8443"), {}),
    ("GET", URL, {"Range": "bytes=0-134217727"}),
    ("GET", URL, {"Authorization": "Capability c.a.q"}),
])
def test_changed_covered_value(method: str, url: str, change: dict[str, str]) -> None:
    error = refusal({**signed(), **change}, method, url)
    assert error.reason == "bad_signature"


def test_uncovered_values_may_change() -> None:
    headers = {**signed(components=("@method", "@path", "range", "authorization")), "Accept": "*/*"}
    assert verify(headers, url=URL.replace("https:", "http:") + "?x=1", required=("@method",)).keyid == KID


def test_covered_field_absent() -> None:
    headers = signed()
    del headers["Range"]
    error = refusal(headers)
    assert error.reason == "bad_component"
    assert error.message == "signature sig1: the covered field 'range' is absent from the request"


@pytest.mark.parametrize(("url", "change", "message"), [
    (URL, {"Range": "bytes=0-\x7f"}, "the field 'range' holds a character that is not visible ASCII"),
    (URL, {"Range": "bytes=0-\u00e9"}, "the field 'range' holds a character that is not visible ASCII"),
    (URL, {"Range": "bytes=0-1\nx"}, "the field 'range' holds a character that is not visible ASCII"),
    (URL + "#frag", {}, "is not an absolute http(s) URI without userinfo or fragment"),
    ("https://user@node.deu.example/b1", {}, "is not an absolute http(s) URI without userinfo or fragment"),
    ("ftp://node.deu.example/b1", {}, "has the scheme 'ftp'; only http and https are signed"),
    ("https://node.deu.example:099/b1", {}, "has the invalid port '099'"),
    ("https://node.deu.example:65536/b1", {}, "has the invalid port '65536'"),
])
def test_unusable_received_values(url: str, change: dict[str, str], message: str) -> None:
    error = refusal({**signed(), **change}, url=url)
    assert error.reason == "bad_component"
    assert message in error.message


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        verify(signed(), now=NOW.replace(tzinfo=None))


# --- signing mistakes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"created": NOW.replace(tzinfo=None)}, "created must be timezone-aware"),
    ({"expires": NOW}, "expires (1772366400) must be after created (1772366400)"),
    ({"components": ("@method", "@method")}, "listed twice"),
    ({"components": ("@status",)}, "derived component '@status' is not supported"),
    ({"components": ("x-absent",)}, "the covered field 'x-absent' is absent from the request"),
    ({"label": "Sig1"}, "label 'Sig1' is not a structured field key"),
    ({"keyid": "k\u00e9y"}, "holds a character a structured field string cannot carry"),
    ({"nonce": "a\tb"}, "holds a character a structured field string cannot carry"),
    ({"method": "GE T"}, "method 'GE T' is not an HTTP token"),
    ({"url": "/relative"}, "is not an absolute http(s) URI"),
])
def test_signing_mistakes(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"method": "GET", "url": URL, "headers": HEADERS, "key": KEY, "keyid": KID,
                               "components": PULL_COMPONENTS, "created": NOW,
                               "expires": NOW + timedelta(seconds=60)}
    with pytest.raises(ValueError) as caught:
        sign_request(**{**args, **kwargs})  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_field_names_are_lowercased_when_signing() -> None:
    headers = signed(components=("@method", "Range", "AUTHORIZATION"))
    assert '("@method" "range" "authorization")' in headers["Signature-Input"]
    assert verify(headers, required=("range",)).components == ("@method", "range", "authorization")


# --- properties --------------------------------------------------------------------------------------------

TCHAR = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
PCHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"
VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))

methods = st.text(TCHAR, min_size=1, max_size=8)
segments = st.lists(st.text(PCHAR, max_size=8) | st.just("%2F"), max_size=4)
queries = st.none() | st.text(PCHAR + "/?", max_size=20)
values = st.builds(
    lambda pad1, core, pad2: pad1 + core + pad2,
    st.text(" \t", max_size=2),
    st.text(VISIBLE, min_size=1, max_size=1) | st.text(VISIBLE + " \t", max_size=30).map(str.strip),
    st.text(" \t", max_size=2),
)
field_names = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=10).filter(
    lambda n: n not in ("signature", "signature-input"))
cases = st.sampled_from([str.lower, str.upper, str.title])


def _url(scheme: str, host: str, port: int | None, path: list[str], query: str | None) -> str:
    return (f"{scheme}://{host}{'' if port is None else f':{port}'}/{'/'.join(path)}"
            f"{'' if query is None else '?' + query}")


urls = st.builds(_url, st.sampled_from(["http", "https"]), st.sampled_from(["a.example", "B.Example", "[::1]"]),
                 st.none() | st.integers(1, 65535), segments, queries)


@given(method=methods, url=urls, fields=st.dictionaries(field_names, values, max_size=4), case=cases,
       derived=st.lists(st.sampled_from(sorted(httpsig._DERIVED)), unique=True), nonce=st.none() | st.text(
           VISIBLE + " ", max_size=12))
def test_round_trip(method: str, url: str, fields: dict[str, str], case: Callable[[str], str],
                    derived: list[str], nonce: str | None) -> None:
    headers = {case(name): value for name, value in fields.items()}
    components = (*derived, *fields)
    sig = sign_request(method, url, headers, key=KEY, keyid=KID, components=components, created=NOW,
                       expires=NOW + timedelta(seconds=30), nonce=nonce)
    received = {case(name): value for name, value in {**headers, **sig}.items()}
    verified = verify_request(method, url, received, resolve_key=resolve, required=components, now=NOW,
                              max_age=PULL_MAX_AGE)
    assert verified.components == components
    assert verified.nonce == nonce


@given(data=st.data(), fields=st.dictionaries(field_names, values, min_size=1, max_size=4))
def test_any_change_to_a_covered_field_is_refused(data: st.DataObject, fields: dict[str, str]) -> None:
    sig = sign_request("GET", URL, fields, key=KEY, keyid=KID, components=tuple(fields), created=NOW,
                       expires=NOW + timedelta(seconds=30))
    name = data.draw(st.sampled_from(sorted(fields)))
    new = data.draw(values.filter(lambda v: v.strip(" \t") != fields[name].strip(" \t")))
    with pytest.raises(SignatureRefused) as caught:
        verify_request("GET", URL, {**fields, name: new, **sig}, resolve_key=resolve, required=(), now=NOW,
                       max_age=PULL_MAX_AGE)
    assert caught.value.reason == "bad_signature"


keys = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,6}", fullmatch=True)
bare_items = (
    st.integers(-(10**15) + 1, 10**15 - 1)
    | st.text("".join(chr(c) for c in range(0x20, 0x7F)), max_size=10)
    | st.from_regex(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]{0,6}", fullmatch=True).map(httpsig._Token)
    | st.binary(max_size=10)
    | st.booleans()
)
params = st.dictionaries(keys, bare_items, max_size=3)
items = st.builds(httpsig._Item, bare_items, params)
members = items | st.builds(httpsig._InnerList, st.lists(items, max_size=3), params)


@given(st.dictionaries(keys, members, min_size=1, max_size=4))
def test_structured_field_round_trip(dictionary: dict[str, httpsig._Item | httpsig._InnerList]) -> None:
    text = ", ".join(httpsig._serialize_member(key, member) for key, member in dictionary.items())
    parsed = httpsig._parse_dictionary(text)
    assert parsed == dictionary
    assert [type(m.value) for m in parsed.values() if isinstance(m, httpsig._Item)] == [
        type(m.value) for m in dictionary.values() if isinstance(m, httpsig._Item)]


@given(st.text(max_size=40) | st.text('sig1=()";:,?*-0123456789aAbB \t\\', max_size=40))
def test_parser_fails_only_with_malformed(text: str) -> None:
    with contextlib.suppress(httpsig._Malformed):
        httpsig._parse_dictionary(text)


@given(st.binary(min_size=64, max_size=64))
def test_random_signatures_are_refused(signature: bytes) -> None:
    headers = signed()
    headers["Signature"] = f"sig1=:{base64.b64encode(signature).decode()}:"
    assert refusal(headers).reason == "bad_signature"
