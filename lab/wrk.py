"""Peak capacity with wrk: how many requests/s a server answers when the generator is not the limit.

locust's ``FastHttpUser`` tops out near 7,000 requests/s on one core, far below what bjoern serves,
so on cheap routes locust measures itself.  wrk (C, epoll) runs right after locust in the same cell,
against the same server, pinned to the same CPUs, at the same concurrency.  It does not check
bodies: the verify step already did, and wrk counts every non-2xx/3xx answer as an error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lab.process import Child, wait_for
from lab.results import CellFailed

SCRIPT = Path(__file__).with_name("wrk_report.lua")
MARKER = "LAB_WRK_JSON "
#: wrk measures these scenarios (single GET routes); the others need locust's request logic.
SCENARIOS = {"plaintext": "/plaintext", "json": "/json"}
GRACE_S = 30.0


def unavailable_reason(scenario: str) -> str | None:
    if scenario not in SCENARIOS:
        return "wrk runs on plaintext and json only"
    if shutil.which("wrk") is None:
        return "wrk is not installed (Debian: apt-get install wrk)"
    return None


def wrk_argv(url: str, connections: int, threads: int, duration: float) -> list[str]:
    return ["wrk", f"--threads={min(threads, connections)}", f"--connections={connections}",
            f"--duration={max(1, round(duration))}s", "--timeout=10s", f"--script={SCRIPT}", url]


def parse(output: str) -> dict:
    """The JSON line our Lua ``done()`` hook printed."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    raise CellFailed(f"wrk printed no figures: {output[-500:]}")


def figures(raw: dict) -> dict:
    """rps, errors and latency in ms from wrk's own counters."""
    seconds = raw["duration_us"] / 1e6
    latency = {key: value / 1000 for key, value in raw["latency_us"].items()}
    return {"wrk_rps": round(raw["requests"] / seconds, 1), "wrk_errors": sum(raw["errors"].values()),
            "wrk_latency_ms": latency}


def measure(server, scenario: str, connections: int, cpus: list[int], duration: float, log_path: Path,
            run_dir: Path) -> dict:
    """Run wrk once against a serving ``server``; fails the cell if the server dies meanwhile."""
    url = f"http://{server.host}:{server.port}{SCENARIOS[scenario]}"
    with Child(wrk_argv(url, connections, len(cpus), duration), cpus, log_path, run_dir) as wrk:
        wait_for(wrk, "wrk", server, duration + GRACE_S)
    return figures(parse(log_path.read_text(errors="replace")))
