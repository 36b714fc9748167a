"""Valid drafts and results of every request kind, and the declarations of a requested State."""

from __future__ import annotations

from typing import Any

from hanoinet.network.directory import Declaration

REQUESTS: dict[str, dict[str, Any]] = {
    "preservation": {
        "requesting_authority": "Cybercrime Unit, Ministry of Public Security, +84 24 0000 0000",
        "offence": {"article": "13"},
        "facts": "A phishing site collected bank credentials of 400 customers in January 2026.",
        "data": "Mailbox collector@example.org: content and traffic data, 2026-01-01 to 2026-02-01.",
        "data_relation": "The phishing kit mailed every stolen credential to this mailbox.",
        "necessity": "The provider deletes closed mailboxes after 30 days.",
        "mla_to_follow": True,
    },
    "traffic_disclosure": {
        "requesting_authority": "Cybercrime Unit, Ministry of Public Security",
        "offence": {"article": "7"},
        "facts": "An intrusion into a hospital network on 2026-03-02.",
        "data": "Connections from 203.0.113.7:51234 to 198.51.100.2:443 at 2026-03-02T09:30Z.",
        "necessity": "The next hop must be preserved before its logs rotate.",
    },
    "emergency_disclosure": {
        "requesting_authority": "Child Protection Unit, +33 1 00 00 00 00",
        "emergency": "A 14-year-old announced on a forum that she will kill herself tonight.",
        "persons_at_risk": "One child, 14, location unknown.",
        "justification": "The subscriber's address locates her; a request for assistance would take weeks.",
        "data": "Subscriber information of account @example on example-forum.org.",
    },
    "location_query": {
        "requesting_authority": "Cybercrime Unit, Federal Police",
        "subject": "Domain shop-example.net and IP address 192.0.2.10.",
        "question": "provider",
        "facts": "A fake shop defrauded 200 buyers.",
    },
}

#: The contents every request for mutual legal assistance carries (Art. 40).
MLA_CONTENTS: dict[str, Any] = {
    "requesting_authority": "Supreme People's Procuracy of Viet Nam, Department of International Cooperation, "
                            "Ms Tran Thi Mai, +84 24 0000 0002, mla@example.vn",
    "proceeding_stage": "investigation",
    "proceeding": "Criminal investigation of a phishing ring that defrauded bank customers.",
    "conducting_authority": "Investigation Police Agency, Ministry of Public Security",
    "offence": {"article": "13"},
    "facts": "A phishing site hosted in France collected the bank credentials of 400 customers in January 2026.",
    "assistance_sought": "Produce the content and traffic data of mailbox collector@example.org.",
    "purpose": "Evidence for the prosecution of the members of the ring.",
}

REQUESTS.update({
    "stored_data": {**MLA_CONTENTS, "measures": ["search", "disclosure"],
                    "data": "Mailbox collector@example.org: content and traffic data, 2026-01-01 to 2026-02-01.",
                    "preservation_ref": "VNM-2026-0007"},
    "real_time_traffic": {**MLA_CONTENTS, "communications": "Account collector@example.org at Example Mail.",
                          "period_start": "2026-04-01T00:00:00.000Z", "period_end": "2026-05-01T00:00:00.000Z",
                          "justification": "The ring logs in daily; only live traffic data show from where."},
    "interception": {**MLA_CONTENTS, "communications": "Account collector@example.org at Example Mail.",
                     "period_start": "2026-04-01T00:00:00.000Z", "period_end": "2026-04-15T00:00:00.000Z",
                     "justification": "The ring agrees its next targets by mail; nothing else shows them.",
                     "legal_basis": "Criminal Procedure Code, art. 223; order of the Hanoi People's Court, "
                                    "2026-03-20, no. 12/QD."},
    "general_assistance": {**MLA_CONTENTS, "assistance_types": ["evidence_or_statements"]},
    "law_enforcement": {**MLA_CONTENTS, "cooperation": ["persons"]},
    "joint_investigation": {**MLA_CONTENTS, "participants": "Viet Nam: Investigation Police Agency; France: OFAC.",
                            "team_start": "2026-05-01T00:00:00.000Z", "team_end": "2027-05-01T00:00:00.000Z"},
    "spontaneous_information": {
        "requesting_authority": "Investigation Police Agency, Ministry of Public Security",
        "offence": {"article": "13"},
        "facts": "A phishing ring seized in Viet Nam also targeted customers of French banks.",
        "information": "A list of 120 French bank accounts found on the ring's server.",
        "relevance": "The account holders are likely victims in France.",
    },
})

TRAFFIC_RESULT: dict[str, Any] = {
    "provider": "Example Hosting SAS",
    "provider_state": "FRA",
    "path": ["AS64500 Example Transit", "AS64501 Example Hosting"],
    "traffic_data": "203.0.113.7 was assigned to customer 1234 of Example Hosting on 2026-03-02.",
}

RESULTS: dict[str, dict[str, Any]] = {
    "preservation": {
        "preserved_at": "2026-03-02T10:00:00.000Z",
        "provider": "Example Mail Ltd",
        "what_preserved": "Mailbox collector@example.org, content and traffic data since 2025-12-01.",
    },
    "traffic_disclosure": TRAFFIC_RESULT,
    "emergency_disclosure": {"data_disclosed": "Subscriber: J. Doe, 1 Example Street, Lyon."},
    "location_query": {"details": "The domain is hosted by Example Hosting SAS in France."},
    "stored_data": {"measures_taken": ["disclosure"], "data_obtained": "Mailbox content, 2026-01-01 to 02-01."},
    "real_time_traffic": {"traffic_data": "Logins from 198.51.100.9, daily; the collection continues."},
    "interception": {"content_data": "14 messages, delivered as an evidence package."},
    "general_assistance": {"assistance_given": "The witness was heard on 2026-04-02; the record is attached."},
    "law_enforcement": {"information": "The suspect lives in Lyon."},
    "joint_investigation": {"answer": "agreed", "terms": "As proposed, for 12 months."},
    "spontaneous_information": {"conditions_accepted": True},
}

#: The reservation of the FRA card of docs/protocol.md Appendix A.
DUAL_CRIMINALITY = Declaration(
    article="42", kind="reservation", effect="dual_criminality_required",
    params={"applies_to_preservation": True, "except_articles": ["7", "8", "9", "10", "11"]},
)
LANGUAGES = Declaration(article="40", kind="declaration", effect="accepted_languages",
                        params={"languages": ["fr", "en"]})
