"""Peak capacity with wrk: how many requests/s a server answers correctly when the generator is not the limit.

wrk (C, epoll) runs right after locust in the same cell, against the same server, pinned to the
same CPUs, at the same concurrency, on every scenario: a Lua script generated from the scenario's
data (``lab.wrk.script``) sends its requests and checks every answer's status and body.  A wrong
answer is a *mismatch*: it is subtracted from wrk's request count, so ``wrk_rps`` counts only the
app's exact answers (``wrk_mismatches`` says how many were not).

The check costs little on a route this cheap: the lab's wrk peak on bjoern plaintext, every answer
checked, was within the ±5 % the lab promises of a standalone ``wrk -t1 -c32 -d5s`` on the same
pinned cores (medians of 3, README "Peak capacity with wrk").
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lab.process import Child, wait_for
from lab.results import CellFailed
from lab.wrk import script

MARKER = "LAB_WRK_JSON "
GRACE_S = 30.0


def unavailable_reason(scenario: str) -> str | None:
    if shutil.which("wrk") is None:
        return "wrk is not installed (Debian: apt-get install wrk)"
    return None


def wrk_argv(url: str, script_path: Path, connections: int, threads: int, duration: float) -> list[str]:
    return ["wrk", f"--threads={min(threads, connections)}", f"--connections={connections}",
            f"--duration={max(1, round(duration))}s", "--timeout=10s", f"--script={script_path}", url]


def parse(output: str) -> dict:
    """The JSON line our Lua ``done()`` hook printed."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    raise CellFailed(f"wrk printed no figures: {output[-500:]}")


def figures(raw: dict) -> dict:
    """rps of exact answers, errors, mismatches and latency in ms, from wrk's own counters."""
    seconds = raw["duration_us"] / 1e6
    latency = {key: value / 1000 for key, value in raw["latency_us"].items()}
    return {"wrk_rps": round((raw["requests"] - raw["mismatches"]) / seconds, 1),
            "wrk_errors": sum(raw["errors"].values()), "wrk_mismatches": raw["mismatches"],
            "wrk_latency_ms": latency}


def measure(server, scenario: str, connections: int, cpus: list[int], duration: float, log_path: Path,
            run_dir: Path) -> dict:
    """Run wrk once against a serving ``server``; fails the cell if the server dies meanwhile."""
    script_path = script.write(scenario, run_dir / "wrk")
    url = f"http://{server.host}:{server.port}/"
    with Child(wrk_argv(url, script_path, connections, len(cpus), duration), cpus, log_path, run_dir) as wrk:
        wait_for(wrk, "wrk", server, duration + GRACE_S)
    return figures(parse(log_path.read_text(errors="replace")))
