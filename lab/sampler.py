"""Once a second, the CPU and memory of the server (all its processes) and the generator's CPU.

psutil's per-process CPU percentage is a delta since the previous call, so each process object is
kept between samples; a process forked later (a respawned worker) starts counting at its second
sample.  CPU% is of one core: 100 means one core fully busy.  A reading that fails (no process left,
a Docker stats call refused) is recorded as None, never as 0, and means skip it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from lab.results import CellFailed

INTERVAL_S = 1.0
#: A reading takes milliseconds (a Docker stats call up to about 2 s); past this the sampler is stuck.
STOP_TIMEOUT_S = 15.0


@dataclasses.dataclass(frozen=True)
class Usage:
    """One reading of a process tree or container: CPU% of one core since the last reading, resident
    memory, CPU seconds used so far (user + system, cumulative) and how many processes there are."""

    cpu_pct: float
    rss_mb: float
    cpu_s: float
    processes: int | None  # None when the reading does not tell (a container without pids stats)
    wait_pct: float | None = None  # % of one core's time spent runnable but waiting for a CPU


def run_delay_s(pid: int) -> float | None:
    """Seconds every thread of ``pid`` has waited on a run queue (runnable, no CPU free), from
    ``/proc/PID/task/*/schedstat``'s second field; None where the kernel does not tell."""
    total = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):  # gone, or no schedstats in this kernel
        return None
    return total


class ProcessTree:
    """Usage summed over a root process and every descendant (a master and its workers)."""

    def __init__(self, processes: Callable[[], list[psutil.Process]]):
        self.processes = processes
        self.known: dict[int, psutil.Process] = {}
        self.waited: dict[int, float] = {}  # run-queue seconds of each process at the last reading
        self.read_at: float | None = None

    def sample(self) -> Usage | None:
        """The tree's usage, or None when none of its processes could be read."""
        cpu = rss = cpu_s = waited = 0.0
        count = 0
        now, last = time.monotonic(), self.read_at
        for proc in self.processes():
            tracked = self.known.setdefault(proc.pid, proc)
            try:
                cpu += tracked.cpu_percent(None)
                rss += tracked.memory_info().rss
                times = tracked.cpu_times()
                cpu_s += times.user + times.system
                count += 1
            except psutil.Error:  # exited between listing and reading: it uses nothing any more
                continue
            delay = run_delay_s(proc.pid)
            if delay is not None:
                waited += delay - self.waited.get(proc.pid, delay)
                self.waited[proc.pid] = delay
        self.read_at = now
        wait_pct = waited / (now - last) * 100 if last is not None and now > last else None
        return Usage(cpu, rss / 2**20, cpu_s, count, wait_pct) if count else None


class Busiest:
    """Several generator processes (locust workers) seen as one: the busiest one's CPU%, total RSS.

    Each locust worker is one process on one core, so the generator is the limit as soon as any
    one of them saturates its core.
    """

    def __init__(self, parts: list):
        self.parts = parts

    def sample(self) -> Usage | None:
        readings = [reading for reading in (part.sample() for part in self.parts) if reading is not None]
        if not readings:
            return None
        busiest = max(readings, key=lambda r: r.cpu_pct)
        return Usage(busiest.cpu_pct, sum(r.rss_mb for r in readings), sum(r.cpu_s for r in readings),
                     sum(r.processes or 0 for r in readings), busiest.wait_pct)


class CpusBusy:
    """How busy sets of CPUs were between two readings, whoever used them.

    It keeps its own previous reading of the per-CPU times (``psutil.cpu_percent`` measures from
    whichever call came last in the process, so two callers would disturb each other).
    """

    def __init__(self):
        self.last = psutil.cpu_times(percpu=True)
        self.busy: list[float] = [0.0] * len(self.last)

    def read(self) -> None:
        """Close the interval: each CPU's busy share since the previous ``read`` (or creation)."""
        now = psutil.cpu_times(percpu=True)
        self.busy = [busy_pct(before, after) for before, after in zip(self.last, now)]
        self.last = now

    def mean(self, cpus: list[int]) -> float | None:
        """Mean busy % of ``cpus`` over the last interval; None for an unknown set (a container's)."""
        return round(sum(self.busy[cpu] for cpu in cpus) / len(cpus), 1) if cpus else None


def busy_pct(before, after) -> float:
    """Share of one CPU's time not idle (idle and I/O wait are idle) between two readings."""
    def idle(times) -> float:
        return times.idle + getattr(times, "iowait", 0.0)

    total = sum(after) - sum(before)
    return 0.0 if total <= 0 else min(100.0, max(0.0, (total - (idle(after) - idle(before))) / total * 100))


class Sampler(threading.Thread):
    """Collects samples until stopped; each sample carries its wall-clock time ``at``.

    Besides each side's own CPU it records how busy each side's CPUs are in total: on a shared
    machine another process can starve locust below 90% of a core while the core itself is full,
    and the generator is then still the limit (the same holds for the server's CPUs).
    """

    def __init__(self, server: ProcessTree, generator: ProcessTree, generator_cpus: list[int],
                 server_cpus: list[int] = ()):
        super().__init__(daemon=True, name="sampler")
        self.server = server
        self.generator = generator
        self.generator_cpus = generator_cpus
        self.server_cpus = list(server_cpus)
        self.samples: list[dict] = []
        self.done = threading.Event()

    def run(self) -> None:
        self.server.sample()
        self.generator.sample()  # primes psutil's deltas
        self.cpus = CpusBusy()
        while not self.done.wait(INTERVAL_S):
            self.record()
        self.record()  # closes the last interval, so CPU seconds bracket the measured window

    def record(self) -> None:
        server, generator = self.server.sample(), self.generator.sample()
        self.cpus.read()
        generator_figures = figures("generator", generator)
        self.samples.append({"at": time.time(), **figures("server", server),
                             "server_cores_busy_pct": self.cpus.mean(self.server_cpus),
                             "generator_cpu_pct": generator_figures["generator_cpu_pct"],
                             "generator_wait_pct": generator_figures["generator_wait_pct"],
                             "generator_cores_busy_pct": self.cpus.mean(self.generator_cpus)})

    def stop(self) -> list[dict]:
        """Stop after closing the current interval; a reading stuck past the deadline fails the cell."""
        self.done.set()
        self.join(STOP_TIMEOUT_S)
        if self.is_alive():
            raise CellFailed(f"the sampler did not stop within {STOP_TIMEOUT_S:g} s (a CPU reading hung)")
        return self.samples


def figures(side: str, usage: Usage | None) -> dict:
    """One side's reading as sample fields, each None when the reading failed."""
    values = (None,) * 5 if usage is None else (
        round(usage.cpu_pct, 1), round(usage.rss_mb, 1), round(usage.cpu_s, 4), usage.processes,
        None if usage.wait_pct is None else round(usage.wait_pct, 1))
    names = ("cpu_pct", "rss_mb", "cpu_s", "processes", "wait_pct")
    return {f"{side}_{name}": value for name, value in zip(names, values)}


def window(samples: list[dict], start: float, end: float) -> list[dict]:
    """Samples whose one-second interval lies inside the measured window."""
    return [s for s in samples if start + INTERVAL_S <= s["at"] <= end + 0.5]


def mean(samples: list[dict], key: str) -> float | None:
    """Mean of the samples that have the figure; None when none has (missing is not 0)."""
    values = [s[key] for s in samples if s.get(key) is not None]
    return round(sum(values) / len(values), 1) if values else None


def cpu_seconds_between(samples: list[dict], start: float, end: float) -> tuple[float, float] | None:
    """Server CPU seconds used between the last sample at or before ``start`` and the first at or
    after ``end``, and the length of that interval; None if the samples do not bracket the window."""
    read = [s for s in samples if s.get("server_cpu_s") is not None]
    before = [s for s in read if s["at"] <= start]
    after = [s for s in read if s["at"] >= end]
    if not before or not after:
        return None
    first, last = before[-1], after[0]
    return last["server_cpu_s"] - first["server_cpu_s"], last["at"] - first["at"]
