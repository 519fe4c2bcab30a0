"""Soak: a long ``--repeat`` bench while a chaos loop kills a random server now and then.

    .venv/bin/python scripts/soak.py --minutes 30 -- --repeat 20 --duration 2 --warmup 1

The bench runs as a user would run it (``python -m lab bench``).  Every ``--every`` seconds (at a
random moment within that span) the chaos loop SIGKILLs one process of the server under test; the
lab starts a fresh server for the next cell, which is the local equivalent of a restart.  When the
bench ends (or the time bound stops it with SIGTERM, as Ctrl-C would) the script checks what issue
13 asks of a soak and prints one JSON summary:

* nothing lost: every planned cell is in results.json, either ``ok`` or ``failed`` with a reason,
  and every round that ran is either in the cell's figures or in its list of failed rounds;
* nothing leaked: no process tagged with the run's folder is alive, and no loopback port that was
  not listening before the soak is listening after it.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.process import RUN_TAG, leftovers  # noqa: E402
from lab.results import load  # noqa: E402

#: Words in a command line that mark a server process (not locust, not wrk).
SERVER_MARKS = ("gunicorn", "waitress", "servers.", "bjoern", "wsgiref", "granian", "uwsgi", "cheroot",
                "hypercorn")


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.ip.startswith("127.")}


def server_processes(out: Path) -> list[psutil.Process]:
    """Live server processes of any run under ``out``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            tag = proc.environ().get(RUN_TAG, "")
            line = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if tag.startswith(str(out)) and "locust" not in line and "wrk" not in line and \
                any(mark in line for mark in SERVER_MARKS):
            found.append(proc)
    return found


def chaos(out: Path, every: float, stop: threading.Event, kills: list[dict]) -> None:
    """Kill one random server process at a random moment of every ``every`` seconds."""
    rng = random.Random()
    while not stop.wait(rng.uniform(0.5, 1.5) * every):
        victims = server_processes(out)
        if not victims:
            continue
        victim = rng.choice(victims)
        try:
            line = " ".join(victim.cmdline())
            victim.kill()
        except psutil.Error as exc:
            kills.append({"at": time.time(), "error": str(exc)})
            continue
        kills.append({"at": time.time(), "pid": victim.pid, "cmdline": line[:160]})


def check(run_dir: Path, ports_before: set[int]) -> dict:
    run = load(run_dir)
    repeat = run.meta["options"]["repeat"]
    cells = run.cells
    problems = []
    for cell in cells:
        label = f"{cell.server} × {cell.scenario}{' (A/A)' if cell.aa_twin else ''}"
        if cell.status not in ("ok", "failed"):
            problems.append(f"{label}: status {cell.status!r}")
        if cell.status == "failed" and not cell.error:
            problems.append(f"{label}: failed without a reason")
        failed_rounds = getattr(cell, "failed_rounds", None) or []
        if any(not r.get("reason") for r in failed_rounds):
            problems.append(f"{label}: a failed round without a reason")
    leaked = leftovers(run_dir)
    new_ports = sorted(listening_ports() - ports_before)
    return {
        "run": str(run_dir),
        "status": run.meta.get("status"),
        "repeat": repeat,
        "cells": len(cells),
        "cells_ok": sum(c.ok for c in cells),
        "cells_failed": sum(not c.ok for c in cells),
        "rounds_measured": sum(len(c.repeats) for c in cells),
        "rounds_failed": sum(len(getattr(c, "failed_rounds", None) or []) for c in cells),
        "failure_reasons": sorted({(c.error or "")[:120] for c in cells if not c.ok}),
        "problems": problems,
        "leftover_processes": [p.pid for p in leaked],
        "leftover_processes_killed_by_lab": run.meta.get("leftover_processes_killed"),
        "new_listening_ports": new_ports,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="time bound of the whole soak")
    parser.add_argument("--every", type=float, default=45.0, help="mean seconds between kills")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "soak")
    parser.add_argument("bench_args", nargs="*", help="arguments for python -m lab bench (after --)")
    args = parser.parse_args()
    out = args.out.resolve()
    ports_before = listening_ports()
    bench = subprocess.Popen([sys.executable, "-m", "lab", "bench", "--out", str(out), *args.bench_args],
                             cwd=ROOT)
    stop, kills = threading.Event(), []
    killer = threading.Thread(target=chaos, args=(out, args.every, stop, kills), daemon=True)
    started = time.monotonic()
    killer.start()
    try:
        code = bench.wait(timeout=args.minutes * 60)
    except subprocess.TimeoutExpired:
        bench.send_signal(signal.SIGTERM)  # as Ctrl-C: the lab keeps what it finished
        code = bench.wait(timeout=120)
    stop.set()
    killer.join(timeout=5)
    summary = check((out / "latest").resolve(), ports_before)
    summary.update({"bench_exit_code": code, "minutes": round((time.monotonic() - started) / 60, 1),
                    "kills": len(kills), "kill_log": kills})
    print(json.dumps(summary, indent=2))
    ok = not summary["problems"] and not summary["leftover_processes"] and not summary["new_listening_ports"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
