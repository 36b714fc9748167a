"""The CASE/UCO manifest of an evidence package.

A package describes its files and their chain of custody in the Cyber-investigation Analysis Standard
Expression (CASE) 1.5.0, which extends the Unified Cyber Ontology (UCO) 1.5.0 (https://caseontology.org),
written as JSON-LD 1.1 (W3C Recommendation, https://www.w3.org/TR/json-ld11/). Any CASE tool can read it,
and ``case_validate`` (from the ``case-utils`` package, optional extra ``case``) checks it against the
ontology's SHACL shapes.

Identifiers follow the UCO conventions that ``case_utils.inherent_uuid`` implements: every node's IRI ends
with a UUID; facets get UUIDv5 of their object's UUID and the facet class IRI, and hashes UUIDv5 of
``urn:hash::<method>:<value>`` in the URL namespace. Other nodes get UUIDv5 of the package id and their role,
so that the same package always gives the same manifest. docs/evidence.md explains the graph.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hanoinet.errors import ValidationError
from hanoinet.states import check_state, state_name

__all__ = ["CASE_VERSION", "ManifestAction", "ManifestFile", "build_manifest"]

#: The CASE release the manifest conforms to (``case_validate --built-version case-1.5.0``).
CASE_VERSION = "1.5.0"

_UCO = "https://ontology.unifiedcyberontology.org/uco/"
_PREFIXES = {
    "action": _UCO + "action/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "core": _UCO + "core/",
    "identity": _UCO + "identity/",
    "location": _UCO + "location/",
    "observable": _UCO + "observable/",
    "tool": _UCO + "tool/",
    "types": _UCO + "types/",
    "vocabulary": _UCO + "vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_HEX256 = re.compile(r"^[0-9a-fA-F]{64}$")
_TOOL_NAME = "hanoinet"

Node = dict[str, Any]


@dataclass(frozen=True)
class ManifestFile:
    """One file of the package, as the manifest describes it."""

    path: str  # member path in the package, e.g. "files/0001/server.log"
    name: str  # the file's original name
    size: int
    sha256: str  # hex
    blake3: str | None
    media_type: str | None
    ingested_at: datetime
    ingested_by: str  # a performer, as in ManifestAction


@dataclass(frozen=True)
class ManifestAction:
    """One custody action (collected, ingested, sealed, sent, received, exported, ...) on the package's files."""

    action: str
    at: datetime
    performer: str  # "officer:ID", "system" or "peer:STATE"
    state: str  # ISO 3166-1 alpha-3 of the node where the action happened
    objects: tuple[str, ...]  # member paths of the files concerned; empty for the package as a whole
    ledger_index: int | None


def build_manifest(
    *,
    package_id: str,
    case_reference: str,
    sender_state: str,
    recipient_state: str | None,
    created_at: datetime,
    files: Sequence[ManifestFile],
    actions: Sequence[ManifestAction],
    purpose: str,
) -> dict[str, Any]:
    """The package's CASE/UCO manifest as a JSON-LD document (a ``dict`` ready for ``json.dumps``).

    The same arguments give an equal document, whatever the order of ``files`` and ``actions``. Raises
    :class:`ValidationError` naming the field, file or action at fault when an argument is unusable.
    """
    try:
        package_uuid = uuid.UUID(package_id)
    except (ValueError, TypeError, AttributeError):
        package_uuid = None
    if package_uuid is None or str(package_uuid) != package_id:
        raise ValidationError(
            f"package_id {package_id!r} is not a UUID in its lowercase text form",
            hint="pass the package's id as stored, e.g. 0190b3c4-8d2e-7a1b-9c3d-4e5f6a7b8c9d",
        )
    graph = _Graph(package_uuid)
    _text(case_reference, "case_reference")
    _text(purpose, "purpose")
    _instant(created_at, "created_at")
    sender = graph.state_org(_state(sender_state, "sender_state"))
    recipient = None if recipient_state is None else graph.state_org(_state(recipient_state, "recipient_state"))
    package_record = graph.uco_id("ProvenanceRecord", "package")
    file_ids = _add_files(graph, files, sender_state)
    graph.add(package_record, "case-investigation:ProvenanceRecord", {
        "core:name": f"Evidence package {package_id}",
        "core:description": purpose,
        "case-investigation:exhibitNumber": package_id,
        "core:objectCreatedTime": _datetime(created_at),
        "core:createdBy": _ref(sender),
        "core:object": [_ref(file_ids[path]) for path in sorted(file_ids)],
    })
    graph.relationship("Sent_By", package_record, sender)
    if recipient is not None:
        graph.relationship("Addressed_To", package_record, recipient)
    _add_actions(graph, actions, file_ids, package_record, package_id)

    investigation = {
        "@id": graph.uco_id("Investigation", "investigation"),
        "@type": "case-investigation:Investigation",
        "core:name": case_reference,
        "case-investigation:investigationForm": "case",
        "core:object": [_ref(node_id) for node_id in graph.uco_objects],
    }
    return {
        "@context": {**_PREFIXES, "kb": graph.kb},
        "@graph": [investigation, *graph.ordered()],
    }


class _Graph:
    """The nodes of one manifest, keyed by ``@id``, with the package's identifier scheme."""

    def __init__(self, package_uuid: uuid.UUID) -> None:
        self.package_uuid = package_uuid
        self.kb = f"urn:hanoinet:package:{package_uuid}:"
        self.nodes: dict[str, Node] = {}
        # What the investigation compiles: UcoObjects only (facets and hashes are not).
        self.uco_objects: dict[str, None] = {}  # an ordered set

    def uco_id(self, local_name: str, role: str) -> str:
        """The ``kb:`` IRI of a top-level object: UUIDv5 of the package id and the object's role."""
        return f"kb:{local_name}-{uuid.uuid5(self.package_uuid, role)}"

    def add(self, node_id: str, node_type: str, properties: Node, *, uco_object: bool = True) -> str:
        """Add a node once; a second definition of the same ``@id`` must be identical."""
        node = {"@id": node_id, "@type": node_type, **properties}
        known = self.nodes.get(node_id)
        if known is None:
            self.nodes[node_id] = node
            if uco_object:
                self.uco_objects[node_id] = None
        elif known != node:
            raise AssertionError(f"two different nodes share the identifier {node_id}")  # a bug, not bad input
        return node_id

    def ordered(self) -> list[Node]:
        """All nodes, each object followed by the facets and hashes that inhere in it, for readers."""
        out: list[Node] = []
        emitted: set[str] = set()

        def emit(node_id: str) -> None:
            emitted.add(node_id)
            node = self.nodes[node_id]
            out.append(node)
            for value in node.values():
                for item in value if isinstance(value, list) else [value]:
                    ref = item.get("@id") if isinstance(item, dict) else None
                    if ref in self.nodes and ref not in emitted and ref not in self.uco_objects:
                        emit(ref)

        for node_id in self.uco_objects:
            emit(node_id)
        return out

    def facet(self, owner_id: str, facet_type: str, properties: Node) -> Node:
        """Add ``owner_id``'s facet of class ``facet_type`` (``prefix:Name``) and return a reference to it."""
        prefix, local_name = facet_type.split(":")
        facet_uuid = uuid.uuid5(uuid.UUID(owner_id[-36:]), _PREFIXES[prefix] + local_name)
        return _ref(self.add(f"kb:{local_name}-{facet_uuid}", facet_type, properties, uco_object=False))

    def hash(self, method: str, value: str) -> Node:
        """Add the ``types:Hash`` node of ``method`` and ``value`` (shared by files with equal content)."""
        hash_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:hash::{method.lower()}:{value}")
        return _ref(self.add(f"kb:Hash-{hash_uuid}", "types:Hash", {
            "types:hashMethod": method,
            "types:hashValue": {"@type": "xsd:hexBinary", "@value": value},
        }, uco_object=False))

    def location(self, state: str) -> str:
        """The State's territory, as a location with a country address."""
        node_id = self.uco_id("Location", f"location:{state}")
        facet = self.facet(node_id, "location:SimpleAddressFacet", {"location:country": state})
        return self.add(node_id, "location:Location", {"core:name": state_name(state), "core:hasFacet": [facet]})

    def state_org(self, state: str) -> str:
        """The State as an organisation, addressed at its territory."""
        node_id = self.uco_id("Organization", f"state:{state}")
        facet = self.facet(node_id, "identity:AddressFacet", {"identity:address": _ref(self.location(state))})
        return self.add(node_id, "identity:Organization", {"core:name": state_name(state), "core:hasFacet": [facet]})

    def tool(self) -> str:
        """The node software, instrument of the actions its performer ``system`` does."""
        return self.add(self.uco_id("Tool", f"tool:{_TOOL_NAME}"), "tool:Tool", {"core:name": _TOOL_NAME})

    def performer(self, performer: str, state: str, where: str) -> str:
        """The identity behind a performer string, acting at the node of ``state``."""
        _text(performer, where)
        kind, _, rest = performer.partition(":")
        if performer == "system":
            return self.state_org(state)
        if kind == "peer":
            return self.state_org(_state(rest, where))
        # Officer ids are local to a node: the same id at two nodes is two people.
        return self.add(self.uco_id("Identity", f"identity:{state}:{performer}"),
                        "identity:Person" if kind == "officer" else "identity:Identity", {
                            "core:name": performer,
                            "core:description": f"{performer} at the node of {state_name(state)} ({state})",
                        })

    def relationship(self, kind: str, source: str, target: str) -> None:
        """Add a directional ``core:Relationship`` of ``kind`` from ``source`` to ``target``."""
        self.add(self.uco_id("Relationship", f"relationship:{kind}"), "core:Relationship", {
            "core:kindOfRelationship": kind,
            "core:isDirectional": True,
            "core:source": [_ref(source)],
            "core:target": _ref(target),
        })


def _add_files(graph: _Graph, files: Sequence[ManifestFile], sender: str) -> dict[str, str]:
    """Add one ``observable:File`` per file; return the ``@id`` of each member path."""
    ids: dict[str, str] = {}
    for index, file in sorted(enumerate(files), key=lambda item: str(item[1].path)):
        where = f"files[{index}] ({file.path!r})"
        _text(file.path, f"files[{index}].path")
        if file.path in ids:
            raise ValidationError(f"{where}: member path listed twice", hint="give each file its own member path")
        _text(file.name, f"{where}.name")
        if isinstance(file.size, bool) or not isinstance(file.size, int) or file.size < 0:
            raise ValidationError(f"{where}.size: {file.size!r} is not a size in bytes",
                                  hint="pass the file's length as a non-negative int")
        sha256 = _hex256(file.sha256, f"{where}.sha256")
        blake3 = None if file.blake3 is None else _hex256(file.blake3, f"{where}.blake3")
        if file.media_type is not None:
            _text(file.media_type, f"{where}.media_type")
        _instant(file.ingested_at, f"{where}.ingested_at")

        node_id = graph.uco_id("File", f"file:{file.path}")
        hashes = [graph.hash("SHA256", sha256)]
        if blake3 is not None:
            # Outside HashNameVocab, which is an open vocabulary: case_validate reports it as Info only.
            hashes.append(graph.hash("BLAKE3", blake3))
        content: Node = {"observable:hash": hashes}
        if file.media_type is not None:
            content["observable:mimeType"] = file.media_type
        facets = [
            graph.facet(node_id, "observable:FileFacet", {
                "observable:fileName": file.name,
                "observable:filePath": file.path,
                "observable:sizeInBytes": file.size,
            }),
            graph.facet(node_id, "observable:ContentDataFacet", content),
        ]
        ids[file.path] = graph.add(node_id, "observable:File", {
            "core:objectCreatedTime": _datetime(file.ingested_at),
            # Files are ingested at the node that builds the package: the sender's.
            "core:createdBy": _ref(graph.performer(file.ingested_by, sender, f"{where}.ingested_by")),
            "core:hasFacet": facets,
        })
    return ids


def _add_actions(graph: _Graph, actions: Sequence[ManifestAction], file_ids: dict[str, str],
                 package_record: str, package_id: str) -> None:
    """Add the custody actions as a chain in time order, each with its resulting provenance record."""
    keyed: list[tuple[tuple[Any, ...], int, ManifestAction]] = []
    for index, act in enumerate(actions):
        where = f"actions[{index}]"
        _text(act.action, f"{where}.action")
        _text(act.performer, f"{where}.performer")
        at = _instant(act.at, f"{where}.at")
        _state(act.state, f"{where}.state")
        if act.ledger_index is not None and (isinstance(act.ledger_index, bool)
                                             or not isinstance(act.ledger_index, int) or act.ledger_index < 0):
            raise ValidationError(f"{where}.ledger_index: {act.ledger_index!r} is not a ledger index",
                                  hint="pass the entry's index in the custody ledger (an int >= 0) or None")
        for path in act.objects:
            if path not in file_ids:
                raise ValidationError(f"{where} ({act.action!r}): object {path!r} is not a file of the package",
                                      hint="name files by their member path, as in ManifestFile.path")
        if len(set(act.objects)) != len(act.objects):
            raise ValidationError(f"{where} ({act.action!r}): a file is listed twice in objects",
                                  hint="list each member path once")
        # Time first; the ledger orders actions recorded in the same instant.
        key = (at, act.ledger_index is None, act.ledger_index or 0, act.action, act.performer, act.state,
               tuple(sorted(act.objects)))
        keyed.append((key, index, act))
    keyed.sort(key=lambda item: item[0])

    previous_action: str | None = None
    previous_result: str | None = None
    for position, (key, index, act) in enumerate(keyed):
        if position and key == keyed[position - 1][0]:
            raise ValidationError(f"actions[{index}] ({act.action!r} at {_datetime(act.at)['@value']}) is listed "
                                  "twice", hint="pass each custody action once")
        where = f"actions[{index}]"
        role = "action:" + json.dumps([act.action, key[0].isoformat(), act.performer, act.state, list(key[6]),
                                       act.ledger_index])
        node_id = graph.uco_id("InvestigativeAction", role)
        concerned = [file_ids[path] for path in key[6]] or [package_record]
        result = graph.add(graph.uco_id("ProvenanceRecord", role + ":result"), "case-investigation:ProvenanceRecord", {
            "core:name": f"Custody after {act.action} at {_datetime(act.at)['@value']}",
            "case-investigation:rootExhibitNumber": [package_id],
            "core:object": [_ref(node) for node in concerned],
        })
        properties: Node = {
            "core:name": act.action,
            "action:startTime": _datetime(act.at),
            "action:endTime": _datetime(act.at),
            "action:performer": _ref(graph.performer(act.performer, act.state, f"{where}.performer")),
            "action:location": [_ref(graph.location(act.state))],
            "action:object": [_ref(node) for node in [*concerned, *filter(None, [previous_result])]],
            "action:result": [_ref(result)],
        }
        if act.performer == "system":
            properties["action:instrument"] = [_ref(graph.tool())]
        if previous_action is not None:
            properties["case-investigation:wasInformedBy"] = [_ref(previous_action)]
        if act.ledger_index is not None:
            properties["core:externalReference"] = [graph.facet(node_id, "core:ExternalReference", {
                "core:definingContext": f"custody ledger of the node of {act.state}",
                "core:externalIdentifier": str(act.ledger_index),
            })]
        previous_action = graph.add(node_id, "case-investigation:InvestigativeAction", properties)
        previous_result = result


def _ref(node_id: str) -> Node:
    return {"@id": node_id}


def _datetime(moment: datetime) -> Node:
    return {"@type": "xsd:dateTime", "@value": moment.astimezone(UTC).isoformat().replace("+00:00", "Z")}


def _instant(moment: datetime, where: str) -> datetime:
    """``moment`` in UTC; a time without a UTC offset is ambiguous in evidence and refused."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValidationError(f"{where}: {moment!r} is not a datetime with a time zone",
                              hint="pass an aware datetime, e.g. datetime.now(UTC)")
    return moment.astimezone(UTC)


def _text(value: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}: {value!r} is empty or not text", hint="pass a non-empty string")
    return value


def _hex256(value: str, where: str) -> str:
    if not isinstance(value, str) or not _HEX256.fullmatch(value):
        raise ValidationError(f"{where}: {value!r} is not a 256-bit digest in hex",
                              hint="pass the 64 hexadecimal digits of the digest")
    return value.lower()


def _state(code: str, where: str) -> str:
    try:
        return check_state(code)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc.message}", hint=exc.hint) from None
