"""Once a second, the CPU and memory of the server (all its processes) and the generator's CPU.

psutil's per-process CPU percentage is a delta since the previous call, so each process object is
kept between samples; a process forked later (a respawned worker) starts counting at its second
sample.  CPU% is of one core: 100 means one core fully busy.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import psutil

INTERVAL_S = 1.0


@dataclasses.dataclass(frozen=True)
class Usage:
    """One reading of a process tree or container: CPU% of one core since the last reading, resident
    memory, CPU seconds used so far (user + system, cumulative) and how many processes there are."""

    cpu_pct: float
    rss_mb: float
    cpu_s: float
    processes: int


class ProcessTree:
    """Usage summed over a root process and every descendant (a master and its workers)."""

    def __init__(self, processes: Callable[[], list[psutil.Process]]):
        self.processes = processes
        self.known: dict[int, psutil.Process] = {}

    def sample(self) -> Usage:
        cpu = rss = cpu_s = 0.0
        count = 0
        for proc in self.processes():
            tracked = self.known.setdefault(proc.pid, proc)
            try:
                cpu += tracked.cpu_percent(None)
                rss += tracked.memory_info().rss
                times = tracked.cpu_times()
                cpu_s += times.user + times.system
                count += 1
            except psutil.Error:
                continue
        return Usage(cpu, rss / 2**20, cpu_s, count)


class Busiest:
    """Several generator processes (locust workers) seen as one: the busiest one's CPU%, total RSS.

    Each locust worker is one process on one core, so the generator is the limit as soon as any
    one of them saturates its core.
    """

    def __init__(self, parts: list):
        self.parts = parts

    def sample(self) -> Usage:
        readings = [part.sample() for part in self.parts]
        return Usage(max(r.cpu_pct for r in readings), sum(r.rss_mb for r in readings),
                     sum(r.cpu_s for r in readings), sum(r.processes for r in readings))


def cores_busy(cpus: list[int]) -> float:
    """Mean busy % of the given CPUs since the last call, whoever used them."""
    per_cpu = psutil.cpu_percent(None, percpu=True)
    return sum(per_cpu[cpu] for cpu in cpus) / len(cpus)


class Sampler(threading.Thread):
    """Collects samples until stopped; each sample carries its wall-clock time ``at``.

    Besides the generator process's own CPU it records how busy the generator's cores are in
    total: on a shared machine another process can starve locust below 90% of a core while the
    core itself is full, and the generator is then still the limit.
    """

    def __init__(self, server: ProcessTree, generator: ProcessTree, generator_cpus: list[int]):
        super().__init__(daemon=True, name="sampler")
        self.server = server
        self.generator = generator
        self.generator_cpus = generator_cpus
        self.samples: list[dict] = []
        self.done = threading.Event()

    def run(self) -> None:
        self.server.sample()
        self.generator.sample()  # primes psutil's deltas
        cores_busy(self.generator_cpus)
        while not self.done.wait(INTERVAL_S):
            self.record()
        self.record()  # closes the last interval, so CPU seconds bracket the measured window

    def record(self) -> None:
        server, generator = self.server.sample(), self.generator.sample()
        self.samples.append({"at": time.time(), "server_cpu_pct": round(server.cpu_pct, 1),
                             "server_rss_mb": round(server.rss_mb, 1), "server_cpu_s": round(server.cpu_s, 4),
                             "server_processes": server.processes,
                             "generator_cpu_pct": round(generator.cpu_pct, 1),
                             "generator_cores_busy_pct": round(cores_busy(self.generator_cpus), 1)})

    def stop(self) -> list[dict]:
        self.done.set()
        self.join()
        return self.samples


def window(samples: list[dict], start: float, end: float) -> list[dict]:
    """Samples whose one-second interval lies inside the measured window."""
    return [s for s in samples if start + INTERVAL_S <= s["at"] <= end + 0.5]


def mean(samples: list[dict], key: str) -> float | None:
    values = [s[key] for s in samples]
    return round(sum(values) / len(values), 1) if values else None


def cpu_seconds_between(samples: list[dict], start: float, end: float) -> tuple[float, float] | None:
    """Server CPU seconds used between the last sample at or before ``start`` and the first at or
    after ``end``, and the length of that interval; None if the samples do not bracket the window."""
    before = [s for s in samples if s["at"] <= start]
    after = [s for s in samples if s["at"] >= end]
    if not before or not after:
        return None
    first, last = before[-1], after[0]
    return last["server_cpu_s"] - first["server_cpu_s"], last["at"] - first["at"]
