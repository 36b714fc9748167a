"""Reading a package beside the caller: in a child process or a thread, with the same members and errors."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hanoinet.evidence import reading as reading_module
from hanoinet.evidence.canonzip import CanonicalZipWriter, ZipLayoutError
from hanoinet.evidence.layout import HEAD, MEDIA_TYPE, SIGNATURE
from hanoinet.evidence.reading import Member, Reading, Refused, read_members

BIG = bytes(range(256)) * 12_288  # 3 MiB: read in several pieces, CRC-checked on the reader's worker


def _package(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with path.open("wb") as out:
        writer = CanonicalZipWriter(out)
        for name, data in members:
            writer.add_bytes(name, data)
        writer.close()
    return path


def _layout(big: bytes = BIG) -> list[tuple[str, bytes]]:
    head = [(HEAD[0], MEDIA_TYPE.encode("ascii")), *((name, b"{}") for name in HEAD[1:])]
    return [*head, ("files/0001/disk.img", big), (SIGNATURE, b"x.y.z")]


@pytest.mark.parametrize("child_process", [True, False], ids=["child process", "thread"])
def test_reading_gives_every_member_hashed_and_the_metadata_kept(tmp_path: Path, child_process: bool) -> None:
    package = _package(tmp_path / "p.zip", _layout())
    members = Reading(package, child_process=child_process).result()
    with package.open("rb") as source:
        assert members == read_members(source)
    assert [m.name for m in members] == [*HEAD, "files/0001/disk.img", SIGNATURE]
    disk = members[len(HEAD)]
    assert disk == Member("files/0001/disk.img", len(BIG), hashlib.sha256(BIG).hexdigest(), None)
    assert members[0].data == MEDIA_TYPE.encode("ascii")


@pytest.mark.parametrize("child_process", [True, False], ids=["child process", "thread"])
def test_what_stops_reading_reaches_the_caller_as_it_was(tmp_path: Path, child_process: bool) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        Reading(tmp_path / "absent.zip", child_process=child_process).result()
    assert missing.value.filename == str(tmp_path / "absent.zip")

    not_a_zip = tmp_path / "notes.txt"
    not_a_zip.write_bytes(b"not a package at all" * 10)
    with pytest.raises(ZipLayoutError) as layout:
        Reading(not_a_zip, child_process=child_process).result()
    with not_a_zip.open("rb") as source, pytest.raises(ZipLayoutError) as direct:
        read_members(source)
    assert (layout.value.message, layout.value.hint) == (direct.value.message, direct.value.hint)

    unsigned = _package(tmp_path / "unsigned.zip", _layout()[:-1])
    with pytest.raises(Refused, match=r"ends without signature\.jws"):
        Reading(unsigned, child_process=child_process).result()

    altered = bytearray(_package(tmp_path / "altered.zip", _layout()).read_bytes())
    altered[altered.index(BIG[:64]) + 1000] ^= 1  # one bit of the data: its CRC-32 no longer holds
    (tmp_path / "altered.zip").write_bytes(altered)
    with pytest.raises(ZipLayoutError, match="CRC-32"):
        Reading(tmp_path / "altered.zip", child_process=child_process).result()


def test_a_reading_child_the_caller_leaves_is_stopped(tmp_path: Path) -> None:
    # A FIFO nobody writes to: the child blocks opening it, as on a stalled network share.
    fifo = tmp_path / "stalled.zip"
    os.mkfifo(fifo)
    reading = Reading(fifo, child_process=True)
    child = reading._child
    assert child
    reading.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # killed and reaped: no such child any more


def test_reading_in_a_child_is_the_default_where_the_system_forks(tmp_path: Path) -> None:
    package = _package(tmp_path / "p.zip", _layout(b"small"))
    reading = Reading(package)
    assert bool(reading._child) == hasattr(os, "fork")
    assert [m.name for m in reading.result()][-1] == SIGNATURE


def _gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` has ended (a zombie nobody reaped yet counts as ended) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_the_reading_child_dies_with_its_parent(tmp_path: Path) -> None:
    fifo = tmp_path / "stalled.zip"
    os.mkfifo(fifo)
    parent = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from hanoinet.evidence.reading import Reading\n"
         "r = Reading(Path(sys.argv[1]), child_process=True)\nprint(r._child, flush=True)\ntime.sleep(60)\n",
         str(fifo)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no exit code of the parent runs
    parent.wait(timeout=10)
    assert _gone(child), "the reading child outlived the command"


def test_an_interrupt_while_waiting_stops_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "stalled.zip"
    os.mkfifo(fifo)
    reading = Reading(fifo, child_process=True)
    child = reading._child

    def interrupted(_pipe: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(reading_module.marshal, "load", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reading.result()
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)


def test_a_child_that_stops_without_answering_is_reported(tmp_path: Path) -> None:
    fifo = tmp_path / "stalled.zip"
    os.mkfifo(fifo)
    reading = Reading(fifo, child_process=True)
    os.kill(reading._child, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="stopped without an answer"):
        reading.result()
    with pytest.raises(RuntimeError, match="stopped without an answer"):
        reading.result()  # asked again, the same outcome
