"""`hanoinet serve` speaks HTTPS with the operator's certificate, and refuses plain HTTP off loopback."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hanoinet.crypto.keys import KeyPair
from hanoinet.demo.network import free_port
from hanoinet.node.setup import init_node
from tests.support import DESKS, reset_logs


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    t = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(t - timedelta(minutes=1))
        .not_valid_after(t + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.slow
def test_serve_over_tls(tmp_path: Path, authority: KeyPair) -> None:
    port = free_port()
    node = init_node(tmp_path / "node", state="VNM", name="Viet Nam", endpoint=f"https://127.0.0.1:{port}",
                     desks=DESKS, passphrase=None, authority=authority.public)
    node.close()
    cert, key = self_signed(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "hanoinet", "serve", "--data", str(tmp_path / "node"), "--tls-cert", str(cert),
         "--tls-key", str(key), "--log-level", "warning"],
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        health = None
        for _ in range(100):
            try:
                health = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=context, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health is not None and health.json()["state"] == "VNM"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_plain_http_off_loopback_is_refused(
    tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hanoinet.cli.main import run

    init_node(tmp_path / "node", state="VNM", name="Viet Nam", endpoint="http://192.0.2.10:8401",
              desks=DESKS, passphrase=None, authority=authority.public).close()
    monkeypatch.setattr(sys, "argv", ["hanoinet", "serve", "--data", str(tmp_path / "node")])
    with pytest.raises(SystemExit) as exited:
        run()
    reset_logs()
    assert exited.value.code == 2
    assert "refusing plain HTTP on 192.0.2.10" in capsys.readouterr().err
