"""The layout of an evidence package: its media type, the names and order of its members (docs/evidence.md).

Shared by the node that seals packages and by ``hanoinet verify``, which reads them offline: pure constants,
so that verifying imports nothing of the node.
"""

from __future__ import annotations

MEDIA_TYPE = "application/vnd.hanoinet.evidence-package+zip"
PACKAGE_TYPE = "hanoinet-evidence-package"
CONTENTS_TYP = "hanoinet-package+jws"
#: Members before the files, in order; ``signature.jws`` comes after them.
HEAD = ("mimetype", "package.json", "manifest.jsonld", "custody.json", "signer.json")
SIGNATURE = "signature.jws"
