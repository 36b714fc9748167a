"""What an officer may do: the roles, in a module of their own so that the CLI names them without the ORM."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an officer may do. Desk-bound roles act only for their desk; advocates and reviewers for none."""

    DUTY_OFFICER = "duty_officer"  # 24/7 point of contact staff (Art. 41)
    CENTRAL_AUTHORITY = "central_authority"  # MLA lawyers (Art. 40)
    EXAMINER = "examiner"  # forensic examiners
    SUPERVISOR = "supervisor"  # sees every desk of the node, read-only
    ADMIN = "admin"  # node operator: alarms, audit, directory
    ADVOCATE = "advocate"  # hotlines and victims' advocates: submit hashes for victims (Art. 34)
    REVIEWER = "reviewer"  # reviews platforms' matches before a takedown notice (Art. 14, 16, 34)
