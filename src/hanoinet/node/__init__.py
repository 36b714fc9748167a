"""A State's node: configuration, data directory, keys, and the wiring of services."""
