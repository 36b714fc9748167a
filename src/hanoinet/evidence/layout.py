"""The names an evidence package's format fixes (docs/evidence.md, "Layout, member by member").

Kept apart from sealing so that the offline verifier, which needs only these, imports no database code.
"""

from __future__ import annotations

MEDIA_TYPE = "application/vnd.hanoinet.evidence-package+zip"
PACKAGE_TYPE = "hanoinet-evidence-package"
CONTENTS_TYP = "hanoinet-package+jws"
#: Members before the files, in order; ``signature.jws`` comes after them.
HEAD = ("mimetype", "package.json", "manifest.jsonld", "custody.json", "signer.json")
SIGNATURE = "signature.jws"
