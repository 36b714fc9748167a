"""The court report: verdict wording, completeness, escaping of hostile values, well-formedness, determinism."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.evidence import verify
from hanoinet.evidence.report import EXPLANATIONS, render_html
from hanoinet.evidence.verify import Report, TrustAnchor, Verdict

WHEN = datetime(2026, 11, 23, 3, 0, 0, 123000, tzinfo=UTC)
SIGNER = "kq3Ff0mXyq2xv2Bd8Lr1l0k6H3QyQm1cJbq5uJ0T9xE"
AUTHORITY = "Zx8w4Yt7bq2Lk1Pp0Mm3Nn5Oo6Qq9Rr2Ss4Tt7Uu1Vv"
SHA_A = "a" * 64
SHA_B = "b" * 64
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source", "track", "embed"}
ALLOWED = {"html", "head", "meta", "title", "style", "body", "header", "main", "footer", "section", "h1", "h2", "h3",
           "p", "ul", "li", "dl", "dt", "dd", "strong", "span", "code", "br", "table", "thead", "tbody", "tr", "th",
           "td"}
NOT_ANCHORED = ("the signer is not anchored: key " + SIGNER + " (VNM) signed this package, but nothing given here "
                "says that key belongs to that State")
NOT_WITNESSED = "the checkpoint is not witnessed: no other State's cosignature could be verified"


def _package(**changes: object) -> dict[str, object]:
    package: dict[str, object] = {
        "type": "hanoinet-evidence-package", "v": 1, "id": "6f1c2a9e-0d4b-4c55-9a51-3f2e8d7b1a10",
        "created_at": "2026-11-20T09:15:00.000Z", "sender": "VNM", "recipient": "FRA", "case": "VNM-2026-0042",
        "use_conditions": {"purpose": "criminal proceedings in case 2026/118 of the Paris tribunal",
                           "onward_transfer": "only with the prior written consent of the sending State",
                           "conditions": ["keep confidential", "delete after the proceedings"],
                           "articles": ["Art. 36 (protection of personal data)", "Art. 40 (general principles)"]},
        "files": [{"path": "files/0001/mail.eml", "name": "mail.eml", "size": 1536, "sha256": SHA_A},
                  {"path": "files/0002/disk.img", "name": "disk.img", "size": 5 * 2**30, "sha256": SHA_B}],
    }
    package.update(changes)
    return package


def _report(*, failing: str | None = None, anchored: bool = False) -> Report:
    report = Report(source="case-42.zip", package=_package(), signer_state="VNM", signer_fingerprint=SIGNER)
    report.add("layout", "case-42.zip", True, "canonical ZIP; 7 members; every CRC-32 recomputed")
    report.add("signature", "signature.jws", True, f"Ed25519 JWS by VNM key {SIGNER}")
    report.add("file hash", "files/0001/mail.eml", failing != "files/0001/mail.eml", f"SHA-256 {SHA_A}, 1536 bytes")
    report.add("file hash", "files/0002/disk.img", True, f"SHA-256 {SHA_B}, 5368709120 bytes")
    report.add("manifest", "manifest.jsonld", True, "CASE/UCO manifest names the SHA-256 of every file")
    report.add("custody", "custody entry 7", True, "ingested at 2026-11-19T08:00:00.000Z by officer.a (VNM)")
    report.add("checkpoint", "hanoinet/VNM/ledger size 9", True, "signed by VNM's log key; root 00ff")
    report.add("sealed", "files/0001/mail.eml", True, "the log records this file sealed into this package")
    report.add("sealed", "files/0002/disk.img", True, "the log records this file sealed into this package")
    if anchored:
        report.trusted = [TrustAnchor(AUTHORITY, "--trust")]
        report.add("anchor", "signer VNM", True, f"directory version 3, signed by the trusted key {AUTHORITY}")
        report.anchored_by = AUTHORITY
        report.witnesses = ["BRA", "FRA"]
        report.witnessed_before = "2026-11-20T09:16:00.000Z"
    else:
        report.warnings += [NOT_ANCHORED, NOT_WITNESSED]
    return report


def _unreadable() -> Report:
    report = Report(source="broken.zip")
    report.add("layout", "broken.zip", False, "member 2 is 'evil.txt'; the layout requires 'package.json' there")
    return report


class Page(HTMLParser):
    """Checks nesting, and collects the text, the tags, the table rows and the facts of each section."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.facts: dict[str, str] = {}
        self.section: dict[str, str] = {}
        self._section = ""
        self._cell: list[str] | None = None
        self._dt = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "section":
            self._section = dict(attrs).get("id") or ""
        elif tag == "tr":
            self.rows.setdefault(self._section, []).append([])
        elif tag in {"td", "th", "dt", "dd"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in {"td", "th"} and self._cell is not None:
            self.rows[self._section][-1].append("".join(self._cell))
        elif tag == "dt" and self._cell is not None:
            self._dt = "".join(self._cell)
        elif tag == "dd" and self._cell is not None:
            self.facts.setdefault(self._dt, "".join(self._cell))
        if tag in {"td", "th", "dt", "dd"}:
            self._cell = None
        if tag == "section":
            self._section = ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.section[self._section] = self.section.get(self._section, "") + data
        if self._cell is not None:
            self._cell.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def _page(report: Report) -> tuple[str, Page]:
    html = render_html(report, verified_at=WHEN, tool_version="9.9.9")
    page = Page(html)
    assert page.stack == [], f"unclosed: {page.stack}"
    return html, page


def test_a_valid_report_names_the_trusted_key_that_anchors_the_signer() -> None:
    html, page = _page(_report(anchored=True))
    assert "<h1>VALID — every check holds and a trusted key anchors the signer, VNM (Viet Nam)</h1>" in html
    assert '<header class="verdict valid">' in html
    assert f"which the trusted key {AUTHORITY} (--trust) ties to VNM (Viet Nam)" in page.all_text
    assert "NOT VALID" not in html and "What to run next" not in html


def test_an_unanchored_report_is_amber_not_valid_and_says_what_to_run_next() -> None:
    html, page = _page(_report())
    assert _report().verdict is Verdict.NOT_ANCHORED
    assert "<h1>INTACT, NOT ANCHORED — nobody has shown that this key belongs to VNM (Viet Nam)</h1>" in html
    assert '<header class="verdict unanchored">' in html
    assert "VALID — every check holds" not in html and '"verdict valid"' not in html
    header = page.all_text[:page.all_text.index("Package")]
    assert "What to run next: hanoinet verify case-42.zip --trust FINGERPRINT" in header
    assert "never from this package" in header
    assert "hanoinet verify case-42.zip --data DIR" in header and "hanoinet node authority --data DIR" in header
    assert "this verification was given no trusted key" in page.section[""]
    assert "2 warnings" in page.all_text
    warnings = page.section["warnings"]
    assert "The signer is not anchored: key " + SIGNER in warnings
    assert "The checkpoint is not witnessed" in warnings
    assert page.facts["Package"] == "6f1c2a9e-0d4b-4c55-9a51-3f2e8d7b1a10"
    assert page.facts["Case reference"] == "VNM-2026-0042"
    assert page.facts["Sending State"] == "VNM (Viet Nam)"
    assert page.facts["Receiving State"] == "FRA (France)"
    assert page.facts["Sealed at"] == "2026-11-20 09:15:00.000 UTC"
    assert page.facts["Verified at"] == "2026-11-23 03:00:00.123 UTC"
    assert page.facts["Anchored"].startswith("not anchored")
    assert page.facts["Checkpoint cosigned by"] == "no other State's cosignature was verified"
    assert "hanoinet 9.9.9" in page.section[""]


def test_a_report_whose_signer_no_trusted_key_vouches_for_is_refused_with_its_own_verdict() -> None:
    report = _report()
    report.warnings.remove(NOT_ANCHORED)
    report.trusted = [TrustAnchor(AUTHORITY, "pinned by the node in /srv/hanoinet")]
    report.add("anchor", "signer VNM", False, f"neither the signing key {SIGNER} nor ... is among the trusted keys")
    html, page = _page(report)
    assert "<h1>INTACT, UNTRUSTED SIGNER — no trusted key vouches that this key belongs to VNM (Viet Nam)</h1>" in html
    assert '<header class="verdict invalid">' in html
    assert f"The verifier trusted: {AUTHORITY} (pinned by the node in /srv/hanoinet)" in page.all_text
    assert "What to do next: compare the trusted fingerprint with the one the Secretariat published" in page.all_text
    assert page.facts["Anchored"] == "not anchored: no trusted key given to the verifier vouches for the signing key"
    assert "NOT VALID" not in html and "every check holds" not in html


def test_a_failed_check_makes_it_not_valid_and_is_named_at_the_top() -> None:
    html, page = _page(_report(failing="files/0001/mail.eml", anchored=True))
    assert "NOT VALID — 1 check failed" in html
    assert "every check holds" not in html
    header = html[html.index("<header"):html.index("</header>")]
    assert "file hash</strong> of files/0001/mail.eml" in header
    files = {row[0]: row for row in page.rows["files"]}
    assert files["1"][-1] == "✘ FAILED"
    assert files["2"][-1] == "✔ HELD"
    report = _report(failing="files/0001/mail.eml")
    report.add("anchor", "signer VNM", False, "no trusted key")
    assert "NOT VALID — 2 checks failed" in render_html(report, verified_at=WHEN, tool_version="1")


def test_an_unreadable_package_still_gives_a_useful_not_valid_page() -> None:
    html, page = _page(_unreadable())
    assert "NOT VALID — 1 check failed" in html
    assert "member 2 is &#x27;evil.txt&#x27;" in html
    assert page.facts["Package"] == "not available: the package could not be read"
    assert page.facts["Package file"] == "broken.zip"
    assert "nothing about its files, its sender or its conditions of use is established" in page.section["warnings"]
    assert "No conditions of use could be read" in page.section["conditions"]
    assert "No file list could be read" in page.section["files"]
    assert page.facts["layout"] == EXPLANATIONS["layout"]
    assert page.rows["checks"][1:] == [["1", "layout", "broken.zip", "✘ FAILED",
                                        "member 2 is 'evil.txt'; the layout requires 'package.json' there"]]
    assert page.facts["Signed by"] == "not established"


def test_a_report_without_checks_is_not_valid() -> None:
    html, _ = _page(Report(source="x.zip"))
    assert "NOT VALID — nothing could be checked" in html


def test_every_check_appears_in_order_with_its_explanation() -> None:
    report = _report(anchored=True)
    _, page = _page(report)
    expected = [[str(i), c.name, c.subject, "✔ HELD" if c.ok else "✘ FAILED", c.detail]
                for i, c in enumerate(report.checks, start=1)]
    assert page.rows["checks"][0] == ["#", "Check", "Of", "Result", "Detail"]
    assert page.rows["checks"][1:] == expected
    for name in {c.name for c in report.checks}:
        assert page.facts[name] == EXPLANATIONS[name]
    assert page.facts["Anchored"] == ("through the Secretariat's signed directory of member States, signed by the "
                                      f"trusted authority key {AUTHORITY}")
    assert page.facts["Checkpoint cosigned by"] == "BRA (Brazil), FRA (France)"
    assert page.facts["Records logged no later than"] == "2026-11-20 09:16:00.000 UTC"
    assert page.facts["Key fingerprint (RFC 7638)"] == SIGNER


def test_every_check_the_verifier_makes_is_explained() -> None:
    made = set(re.findall(r'\.add\(\s*"([a-z ]+)"', inspect.getsource(verify)))
    assert {"layout", "metadata", "signature", "files", "file hash", "manifest", "custody", "checkpoint", "sealed",
            "anchor"} <= made
    assert made <= set(EXPLANATIONS)


def test_every_file_appears_with_exact_and_readable_size_and_hash() -> None:
    _, page = _page(_report())
    assert page.rows["files"][1:] == [
        ["1", "mail.emlfiles/0001/mail.eml", "1.5 KiB (1,536 bytes)", SHA_A, "✔ HELD"],
        ["2", "disk.imgfiles/0002/disk.img", "5.0 GiB (5,368,709,120 bytes)", SHA_B, "✔ HELD"],
    ]


@pytest.mark.parametrize(("size", "shown"), [(0, "0 bytes"), (1, "1 byte"), (1023, "1,023 bytes"),
                                              (1024, "1.0 KiB (1,024 bytes)"), (3 * 2**20, "3.0 MiB (3,145,728 bytes)"),
                                              (2**60, "1024.0 PiB (1,152,921,504,606,846,976 bytes)"),
                                              (-1, "-1 (not a byte count)"), ("9", "9 (not a byte count)"),
                                              (True, "True (not a byte count)")])
def test_sizes(size: object, shown: str) -> None:
    report = _report()
    report.package = _package(files=[{"path": "files/0001/x", "name": "x", "size": size, "sha256": SHA_A}])
    _, page = _page(report)
    assert page.rows["files"][1][2] == shown
    assert page.rows["files"][1][4] == "not checked"


def test_use_conditions_are_in_their_own_box() -> None:
    html, page = _page(_report())
    box = page.section["conditions"]
    assert "binding on the receiving authority" in box
    for text in ("criminal proceedings in case 2026/118 of the Paris tribunal", "prior written consent",
                 "keep confidential", "delete after the proceedings", "Art. 36 (protection of personal data)",
                 "Art. 40 (general principles)"):
        assert text in box
    assert '<section id="conditions" class="bound">' in html
    assert "no retention period set by the sender" in box
    report = _report()
    report.package["use_conditions"]["retain_until"] = "2026-09-30T21:59:59.000Z"
    _, page = _page(report)
    assert "2026-09-30 21:59:59.000 UTC" in page.section["conditions"]


HOSTILE = "<script>alert(\"x\")</script>' onerror=\"y\"<img src=http://evil.example/x>&amp;"


def test_hostile_values_are_escaped() -> None:
    report = _report()
    report.source = HOSTILE
    report.package = _package(case=HOSTILE, id=HOSTILE, sender=HOSTILE, files=[
        {"path": HOSTILE, "name": HOSTILE, "size": HOSTILE, "sha256": HOSTILE}], use_conditions={
        "purpose": HOSTILE, "onward_transfer": HOSTILE, "conditions": [HOSTILE], "articles": HOSTILE})
    report.add("file hash", HOSTILE, False, HOSTILE)
    report.warnings.append(HOSTILE)
    report.witnesses = [HOSTILE]
    html, page = _page(report)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27; onerror=&quot;y&quot;" in html
    assert "&amp;amp;" in html
    assert {tag for tag, _ in page.tags} <= ALLOWED
    assert not [a for _, attrs in page.tags for a, _ in attrs if a in {"src", "href", "onerror"}]
    assert page.facts["Case reference"] == HOSTILE
    assert page.rows["files"][1][1] == HOSTILE + HOSTILE


@given(st.text(st.characters(codec="utf-8"), min_size=1))
def test_any_text_is_shown_verbatim_and_never_becomes_markup(text: str) -> None:
    report = _report()
    report.package = _package(case=text, sender=text, files=[{"path": "p", "name": text, "size": 1, "sha256": SHA_A}])
    report.add("custody", text, False, text)
    page = Page(render_html(report, verified_at=WHEN, tool_version="1"))
    assert page.stack == []
    assert {tag for tag, _ in page.tags} <= ALLOWED
    assert page.facts["Case reference"] == text
    assert page.rows["checks"][-1][2:] == [text, "✘ FAILED", text]
    assert page.rows["files"][1][1] == text + "p"
    assert page.facts["Sending State"].startswith(text)


def test_hostile_shapes_do_not_break_rendering() -> None:
    report = _report()
    report.package = _package(files="not a list", use_conditions=[1], sender=42, recipient=None, created_at=7)
    _, page = _page(report)
    assert page.facts["Sending State"] == "42"
    assert page.facts["Receiving State"] == "not named in the package"
    assert page.facts["Sealed at"] == "7"
    report.package = _package(files=[1, None], sender="XXX", case="", id=None)
    _, page = _page(report)
    assert page.facts["Sending State"] == "XXX"
    assert page.facts["Case reference"] == page.facts["Package"] == "not stated"
    assert [row[1] for row in page.rows["files"][1:]] == ["??", "??"]


def test_self_contained_printable_html5() -> None:
    html, page = _page(_report(anchored=True))
    assert html.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    for forbidden in ("<script", "http://", "https://", "<link", "@import", "url(", "src=", "href="):
        assert forbidden not in html
    assert "@media print" in html
    assert "default-src 'none'" in html
    names = [tag for tag, _ in page.tags]
    for tag in ("html", "head", "body", "header", "main", "footer"):
        assert names.count(tag) == 1
    footer = page.all_text[page.all_text.index("To repeat"):]
    assert "hanoinet verify PACKAGE --trust FINGERPRINT" in footer
    assert "(here case-42.zip)" in footer
    assert f"this verification trusted {AUTHORITY} (--trust)." in footer


def test_deterministic_for_the_same_inputs() -> None:
    first = render_html(_report(), verified_at=WHEN, tool_version="9.9.9")
    assert first == render_html(_report(), verified_at=WHEN, tool_version="9.9.9")
    assert first != render_html(_report(), verified_at=WHEN + timedelta(seconds=1), tool_version="9.9.9")
    assert first != render_html(_report(), verified_at=WHEN, tool_version="9.9.10")


def test_defaults_are_now_and_the_installed_version() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    page = Page(render_html(_report()))
    verified = datetime.strptime(page.facts["Verified at"], "%Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=UTC)
    assert before <= verified <= datetime.now(UTC)
    assert f"hanoinet {importlib.metadata.version('hanoinet')} at" in page.section[""]


def test_a_naive_verification_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        render_html(_report(), verified_at=datetime(2026, 1, 1))
