"""The CASE/UCO manifest: deterministic, well-formed, and accepted by the CASE project's own validator."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoinet.errors import ValidationError
from hanoinet.evidence.caseuco import CASE_VERSION, ManifestAction, ManifestFile, build_manifest

PACKAGE = "0190b3c4-8d2e-7a1b-9c3d-4e5f6a7b8c9d"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LOG, IMG = "files/0001/server.log", "files/0002/disk.img"
SHA_LOG, SHA_IMG = "0a" * 32, "1B" * 32
B3_LOG = "2c" * 32
UUID_END = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")

FILES = (
    ManifestFile(LOG, "server.log", 1234, SHA_LOG, B3_LOG, "text/plain", T0, "officer:VNM-0042"),
    ManifestFile(IMG, "disk.img", 4096, SHA_IMG, None, None, T0 + timedelta(minutes=5), "system"),
)
ACTIONS = (
    ManifestAction("collected", T0 - timedelta(days=1), "officer:VNM-0042", "VNM", (LOG,), None),
    ManifestAction("ingested", T0, "system", "VNM", (LOG, IMG), 7),
    ManifestAction("sealed", T0 + timedelta(hours=1), "system", "VNM", (), 8),
    ManifestAction("received", T0 + timedelta(hours=3), "peer:VNM", "FRA", (), 0),
)


def manifest(**changes: Any) -> dict[str, Any]:
    """The manifest of a two-file, four-action package sent by VNM to FRA, with ``changes`` to the arguments."""
    arguments: dict[str, Any] = {
        "package_id": PACKAGE, "case_reference": "VNM-2025-0017", "sender_state": "VNM",
        "recipient_state": "FRA", "created_at": T0 + timedelta(hours=1), "files": FILES, "actions": ACTIONS,
        "purpose": "Mutual legal assistance request MLA-2025-12",
    }
    return build_manifest(**{**arguments, **changes})


def nodes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    graph: list[dict[str, Any]] = document["@graph"]
    return {node["@id"]: node for node in graph}


def of_type(document: dict[str, Any], node_type: str) -> list[dict[str, Any]]:
    return [node for node in document["@graph"] if node["@type"] == node_type]


def refs(value: Any) -> list[str]:
    """The ``@id`` of every node reference in a property value."""
    items = value if isinstance(value, list) else [value]
    return [item["@id"] for item in items if isinstance(item, dict) and set(item) == {"@id"}]


def check_structure(document: dict[str, Any], files: tuple[ManifestFile, ...], n_actions: int) -> None:
    """What every manifest must satisfy, checked without the validator."""
    graph = document["@graph"]
    ids = [node["@id"] for node in graph]
    assert len(ids) == len(set(ids)), "an @id is defined twice"
    by_id = nodes(document)
    for node in graph:
        assert node["@id"].startswith("kb:") and UUID_END.search(node["@id"]), node["@id"]
        assert isinstance(node["@type"], str)
        for value in node.values():
            for ref in refs(value):
                assert ref in by_id, f"{node['@id']} refers to the undefined node {ref}"
    assert re.fullmatch(r"urn:hanoinet:package:[0-9a-f-]{36}:", document["@context"]["kb"])

    file_nodes = of_type(document, "observable:File")
    assert len(file_nodes) == len(files)
    for file in files:
        (node,) = [n for n in file_nodes if any(
            by_id[f].get("observable:filePath") == file.path for f in refs(n["core:hasFacet"]))]
        facets = {by_id[f]["@type"]: by_id[f] for f in refs(node["core:hasFacet"])}
        assert facets["observable:FileFacet"]["observable:fileName"] == file.name
        assert facets["observable:FileFacet"]["observable:sizeInBytes"] == file.size
        hashes = {by_id[h]["types:hashMethod"]: by_id[h]["types:hashValue"]
                  for h in refs(facets["observable:ContentDataFacet"]["observable:hash"])}
        assert hashes["SHA256"] == {"@type": "xsd:hexBinary", "@value": file.sha256.lower()}

    actions = of_type(document, "case-investigation:InvestigativeAction")
    assert len(actions) == n_actions
    starts = [datetime.fromisoformat(a["action:startTime"]["@value"]) for a in actions]
    assert starts == sorted(starts)


def test_same_input_gives_the_same_manifest_whatever_the_order() -> None:
    first = manifest()
    again = manifest(files=tuple(reversed(FILES)), actions=(ACTIONS[2], ACTIONS[0], ACTIONS[3], ACTIONS[1]))
    assert json.dumps(first) == json.dumps(again)


def test_a_time_zone_does_not_change_the_manifest() -> None:
    vnm = timezone(timedelta(hours=7))
    shifted = tuple(replace(a, at=a.at.astimezone(vnm)) for a in ACTIONS)
    assert manifest(actions=shifted) == manifest()


def test_identifiers_derive_from_the_package_id() -> None:
    other = "0190b3c4-8d2e-7a1b-9c3d-000000000001"
    theirs, ours = manifest(package_id=other), manifest()
    assert theirs["@context"]["kb"] == f"urn:hanoinet:package:{other}:"
    # Hashes name content, not the package: only they may be shared.
    shared = {i for i in set(nodes(theirs)) & set(nodes(ours)) if not i.startswith("kb:Hash-")}
    assert shared == set()


def test_structure_of_the_manifest() -> None:
    document = manifest()
    check_structure(document, FILES, len(ACTIONS))
    assert set(document["@context"]) >= {"case-investigation", "core", "observable", "types", "vocabulary", "xsd",
                                         "kb"}
    (investigation,) = of_type(document, "case-investigation:Investigation")
    assert investigation["core:name"] == "VNM-2025-0017"
    assert document["@graph"][0] is investigation


def test_files_carry_their_hashes_size_and_media_type() -> None:
    by_id = nodes(manifest())
    hashes = {(n["types:hashMethod"], n["types:hashValue"]["@value"]) for n in by_id.values()
              if n["@type"] == "types:Hash"}
    # The SHA-256 given in capitals is written in the canonical lowercase form.
    assert hashes == {("SHA256", SHA_LOG), ("SHA256", SHA_IMG.lower()), ("BLAKE3", B3_LOG)}
    content = [n for n in by_id.values() if n["@type"] == "observable:ContentDataFacet"]
    assert sorted(n.get("observable:mimeType", "") for n in content) == ["", "text/plain"]


def test_files_with_equal_content_share_one_hash_node() -> None:
    twin = replace(FILES[0], path="files/0003/copy.log", name="copy.log")
    document = manifest(files=(*FILES, twin))
    check_structure(document, (*FILES, twin), len(ACTIONS))
    assert len(of_type(document, "types:Hash")) == 3


def test_actions_form_a_chain_in_time_order() -> None:
    document = manifest(actions=tuple(reversed(ACTIONS)))
    by_id = nodes(document)
    actions = of_type(document, "case-investigation:InvestigativeAction")
    assert [a["core:name"] for a in actions] == ["collected", "ingested", "sealed", "received"]
    for before, after in itertools.pairwise(actions):
        assert refs(after["case-investigation:wasInformedBy"]) == [before["@id"]]
        (result,) = refs(before["action:result"])
        assert result in refs(after["action:object"])
        assert by_id[result]["@type"] == "case-investigation:ProvenanceRecord"
        assert by_id[result]["case-investigation:rootExhibitNumber"] == [PACKAGE]
    assert "case-investigation:wasInformedBy" not in actions[0]
    # Actions on the package as a whole (no objects) act on the package's provenance record.
    (package,) = [n for n in by_id.values() if n.get("case-investigation:exhibitNumber") == PACKAGE]
    assert package["@id"] in refs(actions[2]["action:object"])
    assert sorted(refs(package["core:object"])) == sorted(n["@id"] for n in of_type(document, "observable:File"))


def test_ledger_index_orders_actions_of_the_same_instant() -> None:
    late = ManifestAction("sealed", T0, "system", "VNM", (), 9)
    early = ManifestAction("exported", T0, "system", "VNM", (), 2)
    document = manifest(actions=(late, early))
    names = [a["core:name"] for a in of_type(document, "case-investigation:InvestigativeAction")]
    assert names == ["exported", "sealed"]
    by_id = nodes(document)
    ledger = [by_id[r]["core:externalIdentifier"] for a in of_type(document, "case-investigation:InvestigativeAction")
              for r in refs(a["core:externalReference"])]
    assert ledger == ["2", "9"]


def test_states_and_performers() -> None:
    document = manifest()
    by_id = nodes(document)
    orgs = {n["core:name"]: n["@id"] for n in of_type(document, "identity:Organization")}
    assert set(orgs) == {"Viet Nam", "France"}
    kinds = {(n["core:kindOfRelationship"], by_id[n["core:target"]["@id"]]["core:name"])
             for n in of_type(document, "core:Relationship")}
    assert kinds == {("Sent_By", "Viet Nam"), ("Addressed_To", "France")}
    collected, ingested, _, received = of_type(document, "case-investigation:InvestigativeAction")
    officer = by_id[collected["action:performer"]["@id"]]
    assert (officer["@type"], officer["core:name"]) == ("identity:Person", "officer:VNM-0042")
    # "system" is the node's State acting through the node software.
    assert ingested["action:performer"]["@id"] == orgs["Viet Nam"]
    assert by_id[refs(ingested["action:instrument"])[0]]["@type"] == "tool:Tool"
    assert received["action:performer"]["@id"] == orgs["Viet Nam"]
    (where,) = refs(received["action:location"])
    (address,) = refs(by_id[where]["core:hasFacet"])
    assert by_id[address]["location:country"] == "FRA"


def test_without_recipient_there_is_no_addressee() -> None:
    document = manifest(recipient_state=None)
    assert [n["core:kindOfRelationship"] for n in of_type(document, "core:Relationship")] == ["Sent_By"]


def test_identifiers_follow_the_case_utils_scheme() -> None:
    inherent = pytest.importorskip("case_utils.inherent_uuid")
    from rdflib import Literal, Namespace, URIRef
    from rdflib.namespace import XSD

    document = manifest()
    kb = Namespace(document["@context"]["kb"])
    by_id = nodes(document)
    (file,) = [n for n in of_type(document, "observable:File") if by_id[refs(n["core:hasFacet"])[0]].get(
        "observable:filePath") == LOG]
    file_iri = URIRef(file["@id"].replace("kb:", str(kb), 1))
    observable = Namespace(document["@context"]["observable"])
    for facet in ("FileFacet", "ContentDataFacet"):
        expected = inherent.get_facet_uriref(file_iri, observable[facet], namespace=kb)
        assert f"kb:{expected.removeprefix(str(kb))}" in refs(file["core:hasFacet"])
    sha_uuid = inherent.hash_method_value_uuid(Literal("SHA256"), Literal(SHA_LOG, datatype=XSD.hexBinary))
    assert f"kb:Hash-{sha_uuid}" in by_id


@pytest.mark.parametrize(("changes", "where"), [
    ({"package_id": "not-a-uuid"}, "package_id"),
    ({"package_id": PACKAGE.upper()}, "package_id"),
    ({"sender_state": "FR"}, "sender_state"),
    ({"recipient_state": "XXX"}, "recipient_state"),
    ({"case_reference": " "}, "case_reference"),
    ({"created_at": datetime(2025, 3, 1)}, "created_at"),
    ({"files": (FILES[0], FILES[0])}, "listed twice"),
    ({"files": (replace(FILES[0], sha256="ab" * 31),)}, "files[0] ('files/0001/server.log').sha256"),
    ({"files": (replace(FILES[0], blake3="zz" * 32),)}, ".blake3"),
    ({"files": (replace(FILES[0], size=-1),)}, ".size"),
    ({"files": (replace(FILES[0], ingested_by="peer:XX"),)}, ".ingested_by"),
    ({"actions": (replace(ACTIONS[0], objects=("files/9999/nope",)),)}, "'files/9999/nope'"),
    ({"actions": (replace(ACTIONS[1], objects=(LOG, LOG)),)}, "listed twice"),
    ({"actions": (replace(ACTIONS[0], at=datetime(2025, 3, 1)),)}, "actions[0].at"),
    ({"actions": (replace(ACTIONS[0], state="vnm"),)}, "actions[0].state"),
    ({"actions": (replace(ACTIONS[0], performer=""),)}, "actions[0].performer"),
    ({"actions": (replace(ACTIONS[0], ledger_index=-1),)}, "ledger_index"),
    ({"actions": (ACTIONS[1], ACTIONS[1])}, "listed twice"),
])
def test_unusable_input_is_refused_saying_where(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        manifest(**changes)
    assert where in raised.value.message
    assert raised.value.hint


_STATES = ("VNM", "FRA", "BRA")
_moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=3))]))
_digests = st.binary(min_size=32, max_size=32).map(bytes.hex)


@st.composite
def packages(draw: st.DrawFn) -> tuple[tuple[ManifestFile, ...], tuple[ManifestAction, ...]]:
    """Random files and custody actions on them."""
    names = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12)
    files = tuple(
        ManifestFile(f"files/{i:04d}/{draw(names)}", draw(names), draw(st.integers(0, 2**40)), draw(_digests),
                     draw(st.none() | _digests), draw(st.none() | st.sampled_from(["text/plain", "image/png"])),
                     draw(_moments), draw(st.sampled_from(["system", "officer:7", "peer:BRA"])))
        for i in range(draw(st.integers(0, 4)))
    )
    action = st.builds(
        ManifestAction, action=st.sampled_from(["collected", "ingested", "sealed", "sent", "received", "exported"]),
        at=_moments, performer=st.sampled_from(["system", "officer:7", "peer:FRA"]),
        state=st.sampled_from(_STATES),
        objects=st.lists(st.sampled_from([f.path for f in files]), unique=True).map(tuple) if files else st.just(()),
        ledger_index=st.none() | st.integers(0, 5),
    )
    actions = draw(st.lists(action, max_size=6, unique_by=lambda a: (
        a.at, a.ledger_index, a.action, a.performer, a.state, tuple(sorted(a.objects)))))
    return files, tuple(actions)


@settings(max_examples=50)
@given(packages(), st.randoms(use_true_random=False))
def test_any_package_gives_a_well_formed_manifest_independent_of_order(
    package: tuple[tuple[ManifestFile, ...], tuple[ManifestAction, ...]], rng: Any,
) -> None:
    files, actions = package
    document = manifest(files=files, actions=actions)
    check_structure(document, files, len(actions))
    shuffled_files, shuffled_actions = list(files), list(actions)
    rng.shuffle(shuffled_files)
    rng.shuffle(shuffled_actions)
    assert manifest(files=shuffled_files, actions=shuffled_actions) == document


def _case_validate(documents: dict[str, dict[str, Any]], folder: Path) -> dict[str, tuple[int, str]]:
    """Run the CASE project's validator on each document, all at once: exit code and output of each."""
    pytest.importorskip("case_utils")
    executable = Path(sys.executable).with_name("case_validate")
    assert executable.exists(), f"case-utils is installed but {executable} is missing"
    runs = {}
    for name, document in documents.items():
        path = folder / f"{name}.jsonld"
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
        runs[name] = subprocess.Popen(
            [str(executable), "--built-version", f"case-{CASE_VERSION}", "--allow-infos", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    outputs = {name: run.communicate(timeout=300)[0] for name, run in runs.items()}
    return {name: (run.returncode, outputs[name]) for name, run in runs.items()}


def _broken(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with a size written as text and a property UCO does not have."""
    for node in document["@graph"]:
        if node["@type"] == "observable:FileFacet":
            node["observable:sizeInBytes"] = str(node["observable:sizeInBytes"])
        if node["@type"] == "identity:Organization":
            node["identity:nationality"] = "VNM"
    return document


@pytest.mark.slow
def test_case_validate_accepts_the_manifest_and_refuses_a_broken_one(tmp_path: Path) -> None:
    results = _case_validate({"manifest": manifest(), "broken": _broken(manifest())}, tmp_path)

    code, output = results["manifest"]
    assert code == 0, output
    assert "Conforms: True" in output
    # --allow-infos must hide only the advisory on BLAKE3, a name outside HashNameVocab; nothing else.
    assert re.findall(r"Source Shape: (\S+)", output) == ["types:Hash-hashMethod-in-shape"], output
    assert "NonExistentCDOConceptWarning" not in output

    # The validator really checks: both defects are reported and the manifest is refused.
    code, output = results["broken"]
    assert code != 0, output
    assert "Conforms: False" in output
    assert "Result Path: observable:sizeInBytes" in output
    assert "NonExistentCDOConceptWarning: https://ontology.unifiedcyberontology.org/uco/identity/nationality" in output
