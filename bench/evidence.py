"""Evidence ingest and offline verification of a large file, side by side with the physical limits.

Ingest (``EvidenceService.ingest_path``: read once, SHA-256, AES-256-GCM STREAM encryption, durable write
with fsync, custody record) is compared with the slower of ``openssl dgst -sha256 FILE`` (hashing) and
``dd if=FILE of=STORE/x bs=4M conv=fsync`` (durable write) on the same disk: together they are what any
ingest must at least do. ``hanoinet verify`` of a package holding the file is compared with
``openssl dgst -sha256`` of the file twice: the verification alone, in a child process that has already
imported the verifier, and the whole ``hanoinet verify PACKAGE`` command as a court runs it (start-up, imports,
verification, report), timed from outside like openssl, with ``hanoinet --help`` beside it. Each figure is the
best of ``--runs``, the runs interleaved; the page cache is warmed first.
Peak RSS is that of the whole child process doing the work. On a slow disk ingest is bound by the disk; to see
the CPU-bound case, point ``--dir`` at a RAM-backed file system (docs/evidence.md, "Performance").

Targets (issue): ingest >= 0.8x the slower baseline with peak RSS < 150 MB; verify >= 0.9x openssl, timed
as a whole process; ``hanoinet --help`` < 0.2 s.

Usage: .venv/bin/python bench/evidence.py [--size-mib 1024] [--runs 3] [--dir FOLDER_ON_THE_DISK_TO_TEST]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, sys, time
from pathlib import Path
import structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
mode, data, source = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if mode == "ingest":
    from hanoinet.node.node import Node
    from hanoinet.evidence.service import EvidenceService
    node = Node.open(data)
    service = EvidenceService(node)
    start = time.perf_counter()
    item = service.ingest_path(source, case="BENCH-1", actor="operator:bench")
    elapsed = time.perf_counter() - start
    node.close()
    print(json.dumps({"seconds": elapsed, "id": item.id}))
else:
    from hanoinet.evidence.verify import verify_package
    start = time.perf_counter()
    with source.open("rb") as handle:
        report = verify_package(handle)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "intact": report.intact}))
"""


def _child(mode: str, data: Path, source: Path) -> tuple[float, int, dict[str, object]]:
    """Run one measurement in a fresh process; (seconds, its peak RSS in bytes, its answer)."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, mode, str(data), str(source)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"the {mode} child failed with status {child.returncode}")
    answer = json.loads(output.strip().splitlines()[-1])
    return float(answer["seconds"]), usage.ru_maxrss * 1024, answer


def _hanoinet_command() -> list[str]:
    """The installed ``hanoinet`` script next to this interpreter, as users run it; else ``python -m hanoinet``."""
    script = Path(sys.executable).parent / "hanoinet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hanoinet"]


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    """Measure and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="a folder on the disk to measure (default: /tmp)")
    args = parser.parse_args()
    openssl = shutil.which("openssl")
    if openssl is None:
        sys.exit("openssl is needed for the baseline")
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        root = Path(folder)
        source = root / "evidence.bin"
        with source.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(1 << 20))
        size = source.stat().st_size
        subprocess.run(["cat", str(source)], check=True, stdout=subprocess.DEVNULL)  # warm the page cache
        created = subprocess.run([sys.executable, "-m", "hanoinet", "node", "init", "--data", str(root / "node"),
                                  "--state", "BRA", "--name", "bench", "--endpoint", "http://127.0.0.1:9", "--yes",
                                  "--insecure-plaintext-keys"], check=True, capture_output=True, text=True)
        # The bench node has no Secretariat: the court trusts the node's signing key itself (`--trust`).
        signer = next(line.split()[-1] for line in created.stdout.splitlines() if "signing key" in line)
        # Interleaved, so that a disk whose speed drifts (shared or virtual disks do) treats all three alike.
        sha_times, dd_times, ingest_runs = [], [], []
        for _ in range(args.runs):
            sha_times.append(_timed([openssl, "dgst", "-sha256", str(source)]))
            dd_times.append(_timed(["dd", f"if={source}", f"of={root / 'dd.out'}", "bs=4M", "conv=fsync"]))
            (root / "dd.out").unlink()
            ingest_runs.append(_child("ingest", root / "node", source))
        sha, dd = min(sha_times), min(dd_times)
        ingest = min(seconds for seconds, _, _ in ingest_runs)
        ingest_rss = max(rss for _, rss, _ in ingest_runs)
        subprocess.run([sys.executable, "-m", "hanoinet", "evidence", "package", "--case", "BENCH-1",
                        "--out", str(root / "package.zip"), "--data", str(root / "node"), "--purpose", "bench",
                        "--file", str(ingest_runs[0][2]["id"])], check=True, capture_output=True)
        verify_runs = [_child("verify", root / "node", root / "package.zip") for _ in range(args.runs)]
        verify = min(seconds for seconds, _, _ in verify_runs)
        verify_rss = max(rss for _, rss, _ in verify_runs)
        # The command as a court types it, start-up included, against openssl on the same disk and cache.
        command = _hanoinet_command()
        sha_again, process_times, help_times = [], [], []
        for _ in range(args.runs):
            sha_again.append(_timed([openssl, "dgst", "-sha256", str(source)]))
            # Anchored, so that the whole verdict (VALID, exit 0) is reached, as a court's run does.
            process_times.append(_timed([*command, "verify", str(root / "package.zip"), "--trust", signer]))
            help_times.append(_timed([*command, "--help"]))
        sha_process, verify_process = min(sha_again), min(process_times)
    mib = size / (1 << 20)
    slower = max(sha, dd)
    print(json.dumps({
        "file_mib": round(mib), "runs": args.runs, "cores": os.cpu_count(),
        "baseline_openssl_sha256_mib_s": round(mib / sha, 1), "baseline_dd_fsync_mib_s": round(mib / dd, 1),
        "ingest_mib_s": round(mib / ingest, 1), "ingest_ratio_to_slower_baseline": round(slower / ingest, 2),
        "ingest_ratio_to_openssl": round(sha / ingest, 2),
        "ingest_peak_rss_mb": round(ingest_rss / 1e6, 1), "ingest_target": ">= 0.8x, RSS < 150 MB",
        "verify_mib_s": round(mib / verify, 1), "verify_ratio_to_openssl": round(sha / verify, 2),
        "verify_peak_rss_mb": round(verify_rss / 1e6, 1),
        "whole_process_openssl_dgst_sha256_s": round(sha_process, 3),
        "whole_process_hanoinet_verify_s": round(verify_process, 3),
        "whole_process_verify_ratio_to_openssl": round(sha_process / verify_process, 2),
        "verify_target": ">= 0.9x openssl, whole process",
        "hanoinet_help_s": round(min(help_times), 3), "help_target": "< 0.2 s",
        "package_intact": all(answer.get("intact") for _, _, answer in verify_runs),
    }, indent=2))


if __name__ == "__main__":
    main()
