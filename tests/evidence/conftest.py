"""Evidence test fixtures: nodes, and an S3-compatible object store (moto's server, on loopback only)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hanoinet.crypto.keys import KeyPair
from hanoinet.node.node import Node
from tests.support import make_node

S3_BUCKET = "hanoinet-evidence-test"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto S3 server on 127.0.0.1 holding the empty bucket ``S3_BUCKET``.

    Dummy credentials are set in the environment for the session, and the host's own AWS configuration is
    hidden, so boto3's ordinary credential chain is what the stores under test use.
    """
    import boto3
    from moto.server import ThreadedMotoServer

    nowhere = str(tmp_path_factory.mktemp("aws") / "absent")
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", nowhere)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", nowhere)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=S3_BUCKET)
            yield endpoint
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 S3 client of the test server, path-style as the stores under test address it."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def node(tmp_path: Path, authority: KeyPair, database_url: str) -> Iterator[Node]:
    """A node on the database under test (SQLite, then PostgreSQL)."""
    made = make_node(tmp_path, "VNM", authority, database_url=database_url)
    yield made
    made.close()


@pytest.fixture
def local(tmp_path: Path, authority: KeyPair) -> Iterator[Node]:
    """A node on its own SQLite file, for what only needs one database."""
    made = make_node(tmp_path, "VNM", authority)
    yield made
    made.close()
