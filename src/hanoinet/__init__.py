"""hanoinet: a node for States cooperating under the UN Convention against Cybercrime."""

__version__ = "0.1.0"

#: The node-to-node protocol version carried in every signed payload (docs/protocol.md).
PROTOCOL_VERSION = 1
