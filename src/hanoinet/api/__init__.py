"""HTTP entry points: ``/federation/v1`` (node to node), ``/api/v1`` (officers), ``/healthz``, ``/metrics``."""
