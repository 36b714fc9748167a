"""However the demo stops, none of its processes is left running.

A real demo process plays a reduced scenario: its own setup, directory server and node processes (one node
instead of three), then a step that runs until it is stopped, or fails. The test stops it the ways a person or
a machine does (Ctrl-C, SIGTERM, the terminal closing, SIGKILL, a failing step) and checks that the directory
server and the node are gone afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

_PROBE = r"""
import json, sys, time
from pathlib import Path
from rich.console import Console
from hanoinet.demo import scenario
from hanoinet.demo.network import LocalNetwork

how = sys.argv[2]


def setup(self):
    self.net = LocalNetwork(self.net.root, [("VNM", "Viet Nam", ["vi", "en"])], env=self.net.env)
    self.mail.start()
    self.net.setup()
    self.net.serve_directory()
    self.net.start("VNM")
    print("running " + json.dumps([self.net.directory_process.pid, self.net.members["VNM"].process.pid]), flush=True)


def step(self):
    if how == "exception":
        raise ValueError("a step of the scenario failed")
    time.sleep(3600)


scenario.Demo.setup = setup
scenario.Demo.preservation_in_france = step
sys.exit(scenario.run(Path(sys.argv[1]), console=Console(quiet=True)))
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its parent to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; the kernel's parent-death signal is Linux's")
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL", "exception"])
def test_no_process_outlives_the_demo(tmp_path: Path, how: str) -> None:
    demo = subprocess.Popen([sys.executable, "-c", _PROBE, str(tmp_path / "demo"), how], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    children: list[int] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if line.startswith("running "):
                children = json.loads(line.removeprefix("running "))
                break
        assert len(children) == 2 and all(_running(pid) for pid in children), demo.stderr.read() if demo.stderr else ""
        if how != "exception":
            os.kill(demo.pid, signal.Signals[how])
        demo.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in children if _running(pid)] == []
        assert demo.returncode != 0  # stopped before the scenario's end, or failed: never a success
    finally:
        for pid in [demo.pid, *children]:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        demo.wait()
