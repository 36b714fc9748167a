"""Several real node processes on loopback, set up with the same commands an operator types.

Used by ``make demo`` and by the end-to-end tests: each node is a separate ``hanoinet serve`` process with
its own data directory and port; the directory is made by a separate Secretariat workspace.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

#: Runs first in each long-lived child (node, directory server), then becomes ``hanoinet ARGS`` (execv keeps the
#: setting): on Linux the kernel sends the child SIGTERM when the process that started it dies, however it dies
#: (SIGKILL included), so no node outlives the demo or the test that ran it. A child whose parent is already
#: gone by then stops at once.
_STOP_WITH_PARENT = """
import ctypes, os, signal, sys
parent = int(sys.argv[1])
if sys.platform == "linux":
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit(1)
os.execv(sys.executable, [sys.executable, "-m", "hanoinet", *sys.argv[2:]])
"""
#: How long a child may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 15.0


def child_command(*args: str) -> list[str]:
    """The command line of a long-lived ``hanoinet ARGS`` child that stops when this process dies."""
    return [sys.executable, "-c", _STOP_WITH_PARENT, str(os.getpid()), *args]


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to a child and reap it; SIGKILL if it has not stopped within :data:`STOP_TIMEOUT`."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Member:
    """One State's node in the local network."""

    state: str
    name: str
    languages: list[str]
    data: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The node's base URL."""
        return f"http://127.0.0.1:{self.port}"


class LocalNetwork:
    """A Secretariat workspace and several nodes under ``root``."""

    def __init__(self, root: Path, members: list[tuple[str, str, list[str]]], *,
                 env: dict[str, str] | None = None) -> None:
        self.root = root
        self.authority = root / "secretariat"
        self.env = {**os.environ, **(env or {})}
        self.members = {
            state: Member(state, name, languages, root / state.lower(), free_port())
            for state, name, languages in members
        }
        self.directory_port = free_port()
        self.directory_process: subprocess.Popen[bytes] | None = None

    @property
    def directory_url(self) -> str:
        """Where the Secretariat publishes the directory (``hanoinet directory serve``)."""
        return f"http://127.0.0.1:{self.directory_port}/directory"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``hanoinet ARGS`` as a separate process; returns its stdout, raises with stderr on failure."""
        result = subprocess.run(  # noqa: S603 - our own CLI with our own arguments
            [sys.executable, "-m", "hanoinet", *args], input=stdin.encode() if stdin else None,
            capture_output=True, env=self.env, timeout=120, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"hanoinet {' '.join(args)} failed:\n{result.stderr.decode()}")
        return result.stdout.decode()

    def setup(self, config: dict[str, str] | None = None) -> None:
        """Secretariat key, one node per member, cards collected, directory published and imported.

        ``config`` maps a State to extra lines for its ``hanoinet.toml`` (declarations, desk policies), written
        before its card is made, as an operator would edit the file.
        """
        self.cli("directory", "init", "--dir", str(self.authority), "--insecure-plaintext-keys")
        for m in self.members.values():
            languages = [arg for lang in m.languages for arg in ("--language", lang)]
            self.cli("node", "init", "--data", str(m.data), "--state", m.state, "--name", m.name,
                     "--endpoint", m.url, "--authority-key", str(self.authority / "authority.jwk"), "--yes",
                     "--insecure-plaintext-keys", "--phone", "+1 555 0100", "--directory-url", self.directory_url,
                     *languages)
            extra = (config or {}).get(m.state)
            if extra:
                with (m.data / "hanoinet.toml").open("a", encoding="utf-8") as toml:
                    toml.write(extra.strip() + "\n")
            card = self.cli("node", "card", "--data", str(m.data))
            self.cli("directory", "add", "-", "--dir", str(self.authority), stdin=card)
        self.cli("directory", "publish", "--dir", str(self.authority))
        for m in self.members.values():
            self.cli("directory", "import", str(self.authority / "directory.jws"), "--data", str(m.data))

    def serve_directory(self, *, timeout: float = 30.0) -> None:
        """Start ``hanoinet directory serve`` for the Secretariat workspace; nodes poll it."""
        log = (self.root / "secretariat.log").open("ab")
        self.directory_process = subprocess.Popen(  # noqa: S603
            child_command("directory", "serve", "--dir", str(self.authority), "--port", str(self.directory_port)),
            stdout=log, stderr=log, env=self.env,
        )
        if not self.wait_until(lambda: _answers(self.directory_url), timeout=timeout, interval=0.1):
            raise RuntimeError(f"the directory server did not answer within {timeout} s")

    def add_officer(self, state: str, name: str, role: str, desk: str, email: str | None = None) -> str:
        """Create an officer on a node and return their token."""
        extra = ["--email", email] if email else []
        token = self.cli("officer", "add", "--data", str(self.members[state].data), "--name", name,
                         "--role", role, "--desk", desk, *extra).strip()
        self.members[state].tokens[name] = token
        return token

    def start(self, state: str, *, timeout: float = 30.0) -> None:
        """Start ``hanoinet serve`` for a member and wait until /healthz answers."""
        m = self.members[state]
        log = (self.root / f"{state.lower()}.log").open("ab")
        m.process = subprocess.Popen(  # noqa: S603
            child_command("serve", "--data", str(m.data), "--log-level", "warning"),
            stdout=log, stderr=log, env=self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m.process.poll() is not None:
                raise RuntimeError(f"node {state} exited at start; see {self.root / f'{state.lower()}.log'}")
            try:
                if httpx.get(f"{m.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node {state} did not answer within {timeout} s")

    def kill(self, state: str, sig: int = signal.SIGKILL) -> None:
        """Stop a member's process with ``sig`` (SIGKILL by default: no chance to clean up)."""
        m = self.members[state]
        stop(m.process, sig)
        m.process = None

    def stop_all(self) -> None:
        """Stop every running member and the directory server: all are told at once, then each is reaped."""
        running = [p for p in (*(m.process for m in self.members.values()), self.directory_process)
                   if p is not None and p.poll() is None]
        for process in running:
            process.terminate()
        for process in running:
            stop(process)
        for m in self.members.values():
            m.process = None
        self.directory_process = None

    def api(self, state: str, token: str, method: str, path: str, **kwargs: Any) -> Any:
        """Call a member's officer API and return the JSON answer (raises on an error status)."""
        headers = {"authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        response = httpx.request(method, self.members[state].url + path, timeout=30, headers=headers, **kwargs)
        response.raise_for_status()
        return response.json()

    def wait_until(self, predicate: Any, *, timeout: float, interval: float = 0.2) -> bool:
        """Poll ``predicate()`` until it is true or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return bool(predicate())


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
