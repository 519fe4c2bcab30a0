"""Once a second, the CPU and memory of the server (all its processes) and the generator's CPU.

psutil's per-process CPU percentage is a delta since the previous call, so each process object is
kept between samples; a process forked later (a respawned worker) starts counting at its second
sample.  CPU% is of one core: 100 means one core fully busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psutil

INTERVAL_S = 1.0


class ProcessTree:
    """CPU% and RSS summed over a root process and every descendant."""

    def __init__(self, processes: Callable[[], list[psutil.Process]]):
        self.processes = processes
        self.known: dict[int, psutil.Process] = {}

    def sample(self) -> tuple[float, float]:
        cpu = rss = 0.0
        for proc in self.processes():
            tracked = self.known.setdefault(proc.pid, proc)
            try:
                cpu += tracked.cpu_percent(None)
                rss += tracked.memory_info().rss
            except psutil.Error:
                continue
        return cpu, rss / 2**20


class Busiest:
    """Several generator processes (locust workers) seen as one: the busiest one's CPU%, total RSS.

    Each locust worker is one process on one core, so the generator is the limit as soon as any
    one of them saturates its core.
    """

    def __init__(self, parts: list):
        self.parts = parts

    def sample(self) -> tuple[float, float]:
        figures = [part.sample() for part in self.parts]
        return max(cpu for cpu, _ in figures), sum(rss for _, rss in figures)


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
            server_cpu, server_rss = self.server.sample()
            generator_cpu, _ = self.generator.sample()
            self.samples.append({"at": time.time(), "server_cpu_pct": round(server_cpu, 1),
                                 "server_rss_mb": round(server_rss, 1),
                                 "generator_cpu_pct": round(generator_cpu, 1),
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
