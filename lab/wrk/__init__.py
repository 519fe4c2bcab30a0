"""Peak capacity with wrk: how many requests/s a server answers correctly when the generator is not the limit.

wrk (C, epoll) runs right after locust in the same cell, against the same server, pinned to the
same CPUs, at the same concurrency, on every scenario, from a Lua script generated from the
scenario's data (``lab.wrk.script``) that checks every answer's status and body.  A wrong answer is
a *mismatch*: it is subtracted from wrk's request count, so ``wrk_rps`` counts only the app's exact
answers (``wrk_mismatches`` says how many were not).

A Lua ``response()`` hook makes wrk copy every answer's headers and body into Lua: on plaintext
that adds about 1 µs of wrk's CPU to the 15-20 µs a request costs it on loopback (measured with
``time`` on this machine), which shows in the peak once wrk's own core is the limit.  So a one-step
scenario (plaintext, json, home and the workloads) runs its peak with no per-request hook, exactly
the work of a plain ``wrk -t1 -cN -dTs``, then a short checked run (``CHECK_S``) of every answer;
if that finds a mismatch, the peak is not trusted and ``wrk_rps`` is the checked run's exact rate
(``wrk_note`` says so).  Sign-in and mixed need the ``request()`` hook anyway: one checked run.
``scripts/wrk-gap.sh`` compares the lab's peak with a standalone wrk (README, "Peak capacity").
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
#: Seconds of the checked run that follows an unchecked peak.
CHECK_S = 1.0


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
            "wrk_checked": raw["checked"], "wrk_latency_ms": latency}


def peak_and_check(peak: dict, checked: dict) -> dict:
    """The unchecked peak's figures, trusted only if the checked run found every answer right."""
    check = figures(checked)
    if check["wrk_mismatches"]:
        return {**check, "wrk_note": f"{check['wrk_mismatches']} of {check['wrk_checked']} answers were wrong "
                                     "under load: wrk_rps is the checked run's count of right answers"}
    return {**figures(peak), "wrk_mismatches": 0, "wrk_checked": check["wrk_checked"]}


def run(server, scenario: str, connections: int, cpus: list[int], duration: float, log_path: Path,
        run_dir: Path, check: bool) -> dict:
    """One wrk run against a serving ``server``; fails the cell if the server dies meanwhile."""
    script_path = script.write(scenario, run_dir / "wrk", check)
    url = f"http://{server.host}:{server.port}/"
    with Child(wrk_argv(url, script_path, connections, len(cpus), duration), cpus, log_path, run_dir) as wrk:
        wait_for(wrk, "wrk", server, duration + GRACE_S)
    return parse(log_path.read_text(errors="replace"))


def measure(server, scenario: str, connections: int, cpus: list[int], duration: float, log_path: Path,
            run_dir: Path) -> dict:
    """wrk's peak on ``scenario``, every answer checked (in the same run, or in a short run after)."""
    if not script.checks_apart(scenario):
        return figures(run(server, scenario, connections, cpus, duration, log_path, run_dir, check=True))
    peak = run(server, scenario, connections, cpus, duration, log_path, run_dir, check=False)
    checked = run(server, scenario, connections, cpus, CHECK_S, log_path.with_suffix(".check.log"), run_dir,
                  check=True)
    return peak_and_check(peak, checked)
