"""The personal-data safeguards of Art. 36 and the use limitation of Art. 40, enforced by the node.

Art. 36: personal data are transferred only as domestic and applicable international law allow, under the
conditions the sending State attaches; the recipient protects them; onward transfer to a third State or an
international organisation needs the sender's prior authorisation. Art. 40: information received is not used
for other proceedings without prior consent. This package holds what makes that hold on a node: the access
log (:mod:`hanoinet.privacy.access`), every read of personal data by an officer, with its reason, in a log the
database keeps append-only; retention (:mod:`hanoinet.privacy.retention`), files shredded when the period the
sender or this State set ends; and the use of received evidence (:mod:`hanoinet.privacy.use`,
:mod:`hanoinet.privacy.consent`): only for its purpose, or with the consent of the State that sent it
(docs/privacy.md).
"""
