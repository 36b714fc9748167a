"""HTTP Message Signatures (RFC 9421) with Ed25519: the proof of possession on signed blob pulls.

The subset implemented, exactly as the standards write it:

- RFC 9421 s. 2.1: HTTP fields as components (lowercased names; each field line trimmed, obsolete line
  folding replaced by one space, several lines joined with ``", "``);
- RFC 9421 s. 2.2.1-2.2.7: the derived components ``@method``, ``@target-uri``, ``@authority``, ``@path``
  and ``@query``, normalized per RFC 9110 s. 4.2.3 (scheme and host lowercased, default port omitted, empty
  path as ``/``; no percent-decoding, no dot-segment removal);
- RFC 9421 s. 2.3 and 2.5: ``@signature-params`` and the signature base;
- RFC 9421 s. 3.3.6: ``ed25519`` (RFC 8032, no prehash); s. 4: the ``Signature-Input`` and ``Signature``
  fields;
- RFC 8941: a strict parser and serializer for the dictionaries those fields hold (s. 3.2, 4.2), with
  integers, strings, tokens, byte sequences and booleans as bare items. Decimals are refused, and so are
  duplicate dictionary keys and duplicate parameters, which RFC 8941 would let the last one win: in a
  signature header an ambiguity is an attack, not a convenience.

The profile on top (docs, section "Signed blob pulls (RFC 9421)"): the parameters ``created``, ``keyid``,
``alg`` = ``ed25519``, ``expires`` and ``tag`` are required and ``nonce`` is optional; nothing else is
accepted; component identifiers carry no parameters. What a signature must cover, and how old it may be,
are the caller's to say (``hanoinet.evidence.transfer`` for blob pulls). A refusal is a
:class:`SignatureRefused` whose ``reason`` names the failed check.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hanoinet.errors import HanoinetError

ALG = "ed25519"
#: The ``tag`` of a blob pull signature: a signature made for another purpose is never taken for one.
BLOB_PULL_TAG = "hanoinet-blob-pull"
#: How far ``created`` may be ahead of the verifier's clock.
MAX_SKEW = timedelta(seconds=5)

Reason = Literal[
    "missing_header", "malformed", "label_absent", "bad_parameters", "bad_alg", "wrong_tag", "bad_component",
    "not_covered", "from_future", "expired", "too_old", "unknown_key", "bad_signature",
]

_DERIVED = frozenset({"@method", "@target-uri", "@authority", "@path", "@query"})
_PARAMETERS: dict[str, type] = {"created": int, "keyid": str, "alg": str, "expires": int, "nonce": str, "tag": str}
_REQUIRED_PARAMETERS = ("created", "keyid", "alg", "expires", "tag")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SIGNATURE_BYTES = 64


class SignatureRefused(HanoinetError):
    """A request signature is missing, malformed, outdated or wrong; ``reason`` names the failed check."""

    code = "signature_refused"
    http_status = 401

    def __init__(self, reason: Reason, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.reason: Reason = reason


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """What a verified signature vouches for: who signed, when, until when, and over which components."""

    keyid: str
    created: datetime
    expires: datetime
    nonce: str | None
    components: tuple[str, ...]


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    key: Ed25519PrivateKey,
    keyid: str,
    components: Sequence[str],
    created: datetime,
    expires: datetime,
    nonce: str | None = None,
    tag: str = BLOB_PULL_TAG,
    label: str = "sig1",
) -> dict[str, str]:
    """Sign a request; return the ``Signature-Input`` and ``Signature`` fields to add to its headers.

    ``url`` is the absolute target URI; ``components`` names what the signature covers (derived components
    and field names; field names in any case). ``created`` and ``expires`` are timezone-aware and are sent
    as whole seconds (rounded down). Raises ``ValueError`` when the request lacks a covered field or a value
    cannot be signed: these are mistakes of the caller, not of a peer.
    """
    created_s, expires_s = _seconds(created, "created"), _seconds(expires, "expires")
    if expires_s <= created_s:
        raise ValueError(f"expires ({expires_s}) must be after created ({created_s})")
    names = tuple(c if c.startswith("@") else c.lower() for c in components)
    problem = _component_names_problem(names)
    if problem:
        raise ValueError(problem)
    params: dict[str, _BareItem] = {"created": created_s, "keyid": keyid, "alg": ALG, "expires": expires_s}
    if nonce is not None:
        params["nonce"] = nonce
    params["tag"] = tag
    inner = _InnerList([_Item(name) for name in names], params)
    try:
        signature_params = _serialize_inner_list(inner)
        signature_input = _serialize_member(label, inner)
        base = _signature_base(method, url, _field_lines(headers), names, signature_params)
    except _Unusable as exc:
        raise ValueError(str(exc)) from None
    signature = key.sign(base.encode("ascii"))
    return {"Signature-Input": signature_input, "Signature": _serialize_member(label, _Item(signature))}


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    resolve_key: Callable[[str], Ed25519PublicKey],
    required: Sequence[str],
    now: datetime,
    max_age: timedelta,
    tag: str = BLOB_PULL_TAG,
    label: str = "sig1",
) -> VerifiedSignature:
    """Verify the signature ``label`` of a received request, or raise :class:`SignatureRefused`.

    ``url`` is the target URI as this node sees it; header names are case-insensitive. ``required`` lists
    the components the signature must cover. ``resolve_key`` maps a ``keyid`` to the public key and raises
    ``LookupError`` (``KeyError``) or a :class:`HanoinetError` (such as ``NotFound``) for a key it does not
    accept; any other exception is a fault of this node and propagates. Checks run cheapest first and the
    key is resolved only for a signature that is well formed, fresh and covers what is required.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    lines = _field_lines(headers)
    inner = _member(lines, "signature-input", label, "Signature-Input")
    signature = _member(lines, "signature", label, "Signature")
    if not isinstance(inner, _InnerList):
        raise SignatureRefused("malformed", f"Signature-Input member {label} is not an inner list of components")
    if not (isinstance(signature, _Item) and isinstance(signature.value, bytes)):
        raise SignatureRefused("malformed", f"Signature member {label} is not a byte sequence (:base64:)")
    if len(signature.value) != _SIGNATURE_BYTES:
        raise SignatureRefused(
            "malformed", f"Signature member {label} is {len(signature.value)} bytes; an Ed25519 signature is 64"
        )
    params = _check_parameters(inner.params, label, tag)
    names = _check_components(inner, label)
    missing = [name for name in dict.fromkeys(c if c.startswith("@") else c.lower() for c in required)
               if name not in names]
    if missing:
        raise SignatureRefused(
            "not_covered",
            f"signature {label} does not cover {', '.join(missing)} (it covers {', '.join(names) or 'nothing'})",
            hint="sign the request over every required component",
        )
    created, expires = int(params["created"]), int(params["expires"])
    _check_times(created, expires, now, max_age, label)
    keyid = str(params["keyid"])
    try:
        base = _signature_base(method, url, lines, names, _serialize_inner_list(inner))
    except _Unusable as exc:
        raise SignatureRefused("bad_component", f"signature {label}: {exc}") from None
    try:
        public_key = resolve_key(keyid)
    except (LookupError, HanoinetError) as exc:
        raise SignatureRefused(
            "unknown_key", f"signature {label} names keyid {keyid!r}, which is not accepted here: {exc}",
            hint="sign with the Ed25519 key that the capability is bound to and the directory lists",
        ) from None
    try:
        public_key.verify(signature.value, base.encode("ascii"))
    except InvalidSignature:
        raise SignatureRefused(
            "bad_signature",
            f"signature {label} does not verify with key {keyid!r} over ({' '.join(names)}): the request "
            "differs from what was signed, or another key signed it",
        ) from None
    return VerifiedSignature(
        keyid=keyid,
        created=_EPOCH + timedelta(seconds=created),
        expires=_EPOCH + timedelta(seconds=expires),
        nonce=str(params["nonce"]) if "nonce" in params else None,
        components=names,
    )


# --- verification steps ------------------------------------------------------------------------------------


def _member(lines: Mapping[str, list[str]], name: str, label: str, display: str) -> _Item | _InnerList:
    """Member ``label`` of the dictionary field ``name`` (all its lines joined, RFC 8941 s. 4.2)."""
    if name not in lines:
        raise SignatureRefused("missing_header", f"the request has no {display} header",
                               hint="sign the request (RFC 9421) and send Signature-Input and Signature")
    try:
        dictionary = _parse_dictionary(", ".join(lines[name]))
    except _Malformed as exc:
        raise SignatureRefused("malformed", f"{display} is not a valid structured field dictionary: {exc}",
                               hint="serialize the field as RFC 8941 section 4.1 says") from None
    if label not in dictionary:
        raise SignatureRefused(
            "label_absent", f"{display} has no member {label} (it has: {', '.join(dictionary) or 'none'})",
            hint=f"send the signature under the label {label}",
        )
    return dictionary[label]


def _check_parameters(params: Mapping[str, _BareItem], label: str, tag: str) -> Mapping[str, _BareItem]:
    for name, value in params.items():
        expected = _PARAMETERS.get(name)
        if expected is None:
            raise SignatureRefused("bad_parameters", f"signature {label} has the unsupported parameter {name!r}",
                                   hint=f"use only {', '.join(_PARAMETERS)}")
        if isinstance(value, bool) or not isinstance(value, expected) or isinstance(value, _Token):
            kind = "an integer" if expected is int else "a string"
            raise SignatureRefused("bad_parameters", f"signature {label} parameter {name} must be {kind}, "
                                   f"got {value!r}")
    absent = [name for name in _REQUIRED_PARAMETERS if name not in params]
    if absent:
        raise SignatureRefused("bad_parameters", f"signature {label} lacks the parameters {', '.join(absent)}",
                               hint=f"send {', '.join(_REQUIRED_PARAMETERS)}")
    created, expires = int(params["created"]), int(params["expires"])
    if created < 0 or expires <= created:
        raise SignatureRefused(
            "bad_parameters",
            f"signature {label} has created={created} and expires={expires}; created must be a UNIX time and "
            "expires later than it",
        )
    if params["alg"] != ALG:
        raise SignatureRefused("bad_alg", f"signature {label} has alg {params['alg']!r}; only {ALG!r} is accepted")
    if params["tag"] != tag:
        raise SignatureRefused("wrong_tag", f"signature {label} has tag {params['tag']!r}, expected {tag!r}",
                               hint="the signature was made for another purpose")
    return params


def _check_components(inner: _InnerList, label: str) -> tuple[str, ...]:
    names: list[str] = []
    for item in inner.items:
        if not isinstance(item.value, str) or isinstance(item.value, _Token):
            raise SignatureRefused("bad_component", f"signature {label} lists {item.value!r}, which is not a "
                                   "component identifier (a quoted string)")
        if item.params:
            raise SignatureRefused("bad_component", f"signature {label}: component {item.value!r} has the "
                                   f"parameters {', '.join(item.params)}; none are supported")
        names.append(item.value)
    problem = _component_names_problem(names)
    if problem:
        raise SignatureRefused("bad_component", f"signature {label}: {problem}")
    return tuple(names)


def _component_names_problem(names: Sequence[str]) -> str:
    """Why these component identifiers cannot be used, or ``""``."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return f"component {name!r} is listed twice (RFC 9421 section 2.5)"
        seen.add(name)
        if name.startswith("@"):
            if name not in _DERIVED:
                return f"derived component {name!r} is not supported (use {', '.join(sorted(_DERIVED))})"
        elif not _TOKEN_NAME.fullmatch(name) or name != name.lower():
            return f"component {name!r} is not a lowercase HTTP field name"
    return ""


def _check_times(created: int, expires: int, now: datetime, max_age: timedelta, label: str) -> None:
    now_s = (now - _EPOCH) / timedelta(seconds=1)
    if created > now_s + MAX_SKEW.total_seconds():
        raise SignatureRefused(
            "from_future",
            f"signature {label} was created at {created}, {created - now_s:.0f} s ahead of this node's clock "
            f"(more than the {MAX_SKEW.total_seconds():.0f} s allowed)",
            hint="check the clocks of both nodes (NTP)",
        )
    if now_s >= expires:
        raise SignatureRefused("expired", f"signature {label} expired at {expires}, {now_s - expires:.0f} s ago",
                               hint="sign every request afresh")
    if now_s - created > max_age.total_seconds():
        raise SignatureRefused(
            "too_old",
            f"signature {label} was created {now_s - created:.0f} s ago, more than the "
            f"{max_age.total_seconds():.0f} s accepted",
            hint="sign every request afresh",
        )


def _seconds(t: datetime, what: str) -> int:
    if t.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return (t - _EPOCH) // timedelta(seconds=1)


# --- signature base (RFC 9421 s. 2) ------------------------------------------------------------------------


class _Unusable(ValueError):
    """A covered component has no value in this request, or one that cannot enter a signature base."""


_TOKEN_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OBS_FOLD = re.compile(r"[ \t]*\r\n[ \t]+")
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")
_UNRESERVED_SUB = r"A-Za-z0-9\-._~!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://"
    rf"(?P<host>\[[0-9A-Fa-f:.]+\]|(?:[{_UNRESERVED_SUB}]|{_PCT})+)"
    r"(?::(?P<port>[0-9]*))?"
    rf"(?P<path>(?:/(?:[{_UNRESERVED_SUB}:@]|{_PCT})*)*)"
    rf"(?:\?(?P<query>(?:[{_UNRESERVED_SUB}:@/?]|{_PCT})*))?"
)


def _field_lines(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Field values by lowercased name, in order; a mapping may hold one name in several spellings."""
    lines: dict[str, list[str]] = {}
    for name, value in headers.items():
        lines.setdefault(name.lower(), []).append(value)
    return lines


@dataclass(frozen=True, slots=True)
class _Target:
    """A target URI split as RFC 9421 s. 2.2 needs it, normalized per RFC 9110 s. 4.2.3."""

    scheme: str
    authority: str
    path: str
    query: str | None

    @classmethod
    def parse(cls, url: str) -> _Target:
        match = _URL.fullmatch(url)
        if match is None:
            raise _Unusable(f"target URI {url!r} is not an absolute http(s) URI without userinfo or fragment")
        scheme = match["scheme"].lower()
        if scheme not in _DEFAULT_PORTS:
            raise _Unusable(f"target URI {url!r} has the scheme {scheme!r}; only http and https are signed")
        authority = match["host"].lower()
        port = match["port"]
        if port and (int(port) > 0xFFFF or port != str(int(port))):
            raise _Unusable(f"target URI {url!r} has the invalid port {port!r}")
        if port and int(port) != _DEFAULT_PORTS[scheme]:
            authority += f":{port}"
        return cls(scheme, authority, match["path"] or "/", match["query"])

    def component(self, name: str, method: str) -> str:
        if name == "@method":
            return method
        if name == "@authority":
            return self.authority
        if name == "@path":
            return self.path
        query = "" if self.query is None else f"?{self.query}"
        if name == "@query":
            return query or "?"
        return f"{self.scheme}://{self.authority}{self.path}{query}"  # @target-uri


def _signature_base(
    method: str, url: str, lines: Mapping[str, list[str]], names: Sequence[str], signature_params: str
) -> str:
    """The signature base (RFC 9421 s. 2.5) over ``names``, ending with the ``@signature-params`` line."""
    if not _TOKEN_NAME.fullmatch(method):
        raise _Unusable(f"method {method!r} is not an HTTP token")
    target = _Target.parse(url)
    out: list[str] = []
    for name in names:
        if name.startswith("@"):
            value = target.component(name, method)
        elif name in lines:
            value = ", ".join(_field_value(name, v) for v in lines[name])
        else:
            raise _Unusable(f"the covered field {name!r} is absent from the request")
        out.append(f"{_serialize_bare(name)}: {value}\n")
    out.append(f'"@signature-params": {signature_params}')
    return "".join(out)


def _field_value(name: str, value: str) -> str:
    value = _OBS_FOLD.sub(" ", value).strip(" \t")
    if not _FIELD_VALUE.fullmatch(value):
        raise _Unusable(f"the field {name!r} holds a character that is not visible ASCII, space or tab")
    return value


# --- structured fields (RFC 8941) --------------------------------------------------------------------------


class _Token(str):
    """An RFC 8941 token, kept apart from a string."""

    __slots__ = ()


_BareItem = int | str | bytes | bool


@dataclass(slots=True)
class _Item:
    value: _BareItem
    params: dict[str, _BareItem] = field(default_factory=dict)


@dataclass(slots=True)
class _InnerList:
    items: list[_Item]
    params: dict[str, _BareItem] = field(default_factory=dict)


class _Malformed(ValueError):
    """Text that is not a structured field of the subset parsed here."""


_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _parse_dictionary(text: str) -> dict[str, _Item | _InnerList]:
    """RFC 8941 s. 4.2 with s. 4.2.2, refusing duplicate keys."""
    return _Parser(text).dictionary()


class _Parser:
    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise _Malformed("it contains non-ASCII characters")
        self.text = text.strip(" ")
        self.pos = 0

    def fail(self, what: str) -> _Malformed:
        return _Malformed(f"{what} at character {self.pos} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self, pattern: re.Pattern[str], what: str) -> str:
        match = pattern.match(self.text, self.pos)
        if match is None or not match.group():
            raise self.fail(f"expected {what}")
        self.pos = match.end()
        return match.group()

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def dictionary(self) -> dict[str, _Item | _InnerList]:
        members: dict[str, _Item | _InnerList] = {}
        while self.pos < len(self.text):
            start = self.pos
            key = self.take(_KEY, "a dictionary key")
            if key in members:
                self.pos = start
                raise self.fail(f"duplicate key {key!r}")
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.inner_list() if self.peek() == "(" else self.item()
            else:
                members[key] = _Item(True, self.parameters())
            self.skip(" \t")
            if self.pos == len(self.text):
                break
            if self.peek() != ",":
                raise self.fail("expected ',' between dictionary members")
            self.pos += 1
            self.skip(" \t")
            if self.pos == len(self.text):
                raise self.fail("trailing ','")
        if not members:
            raise self.fail("empty field")
        return members

    def inner_list(self) -> _InnerList:
        self.pos += 1
        items: list[_Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return _InnerList(items, self.parameters())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')' in an inner list")

    def item(self) -> _Item:
        return _Item(self.bare_item(), self.parameters())

    def parameters(self) -> dict[str, _BareItem]:
        params: dict[str, _BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            start = self.pos
            key = self.take(_KEY, "a parameter key")
            if key in params:
                self.pos = start
                raise self.fail(f"duplicate parameter {key!r}")
            if self.peek() == "=":
                self.pos += 1
                params[key] = self.bare_item()
            else:
                params[key] = True
        return params

    def bare_item(self) -> _BareItem:
        c = self.peek()
        if c == "-" or c.isdigit():
            number = self.take(_INTEGER, "an integer of at most 15 digits")
            if self.peek() == ".":
                raise self.fail("decimals are not supported")
            if self.peek().isdigit():
                raise self.fail("integer longer than 15 digits")
            return int(number)
        if c == '"':
            return self.string()
        if c == ":":
            return self.byte_sequence()
        if c == "?":
            value = self.text[self.pos + 1:self.pos + 2]
            if value not in ("0", "1"):
                raise self.fail("expected ?0 or ?1")
            self.pos += 2
            return value == "1"
        if c.isalpha() or c == "*":
            return _Token(self.take(_TOKEN, "a token"))
        raise self.fail("expected an item")

    def string(self) -> str:
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise self.fail("invalid escape in a string")
                chars.append(escaped)
                self.pos += 1
            elif c == '"':
                return "".join(chars)
            elif not " " <= c <= "~":
                self.pos -= 1
                raise self.fail("control character in a string")
            else:
                chars.append(c)
        raise self.fail("unterminated string")

    def byte_sequence(self) -> bytes:
        self.pos += 1
        end = self.text.find(":", self.pos)
        if end < 0:
            raise self.fail("unterminated byte sequence")
        encoded = self.text[self.pos:end]
        if not _BASE64.fullmatch(encoded) or len(encoded) % 4:
            raise self.fail("byte sequence is not padded base64")
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise self.fail("byte sequence is not base64") from None
        if base64.b64encode(decoded).decode() != encoded:
            raise self.fail("byte sequence is not canonical base64")
        self.pos = end + 1
        return decoded


def _serialize_bare(value: _BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) >= 10**15:
            raise _Unusable(f"integer {value} has more than 15 digits")
        return str(value)
    if isinstance(value, bytes):
        return f":{base64.b64encode(value).decode()}:"
    if isinstance(value, _Token):
        if not _TOKEN.fullmatch(value):
            raise _Unusable(f"{value!r} is not a token")
        return str(value)
    if not all(" " <= c <= "~" for c in value):
        raise _Unusable(f"{value!r} holds a character a structured field string cannot carry (printable ASCII)")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_params(params: Mapping[str, _BareItem]) -> str:
    return "".join(f";{key}" if value is True else f";{key}={_serialize_bare(value)}"
                   for key, value in params.items())


def _serialize_inner_list(inner: _InnerList) -> str:
    items = " ".join(_serialize_bare(i.value) + _serialize_params(i.params) for i in inner.items)
    return f"({items}){_serialize_params(inner.params)}"


def _serialize_member(key: str, member: _Item | _InnerList) -> str:
    if not _KEY.fullmatch(key):
        raise _Unusable(f"label {key!r} is not a structured field key (lowercase letters, digits, _-.*)")
    if isinstance(member, _InnerList):
        return f"{key}={_serialize_inner_list(member)}"
    return f"{key}={_serialize_bare(member.value)}{_serialize_params(member.params)}"
