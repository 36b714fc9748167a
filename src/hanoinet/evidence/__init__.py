"""Electronic evidence: streaming ingest, encryption at rest, blob stores, packages a court verifies offline,
and transfer between States (docs/evidence.md)."""
