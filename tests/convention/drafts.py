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
}

#: The reservation of the FRA card of docs/protocol.md Appendix A.
DUAL_CRIMINALITY = Declaration(
    article="42", kind="reservation", effect="dual_criminality_required",
    params={"applies_to_preservation": True, "except_articles": ["7", "8", "9", "10", "11"]},
)
LANGUAGES = Declaration(article="40", kind="declaration", effect="accepted_languages",
                        params={"languages": ["fr", "en"]})
