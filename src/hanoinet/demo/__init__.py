"""A multi-node network on loopback, for the demonstration and the end-to-end tests."""
