"""Cryptography of the protocol: canonical JSON, node keys, JOSE signing and encryption. No I/O but key files."""
