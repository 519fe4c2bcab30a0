"""The sampler against real processes whose CPU use is known: busy share, own CPU, the measured
window, CPU per request, and missing readings that stay missing."""

import os
import subprocess
import sys
import time

import psutil
import pytest

from lab import aggregate, sampler

#: Burns CPU until it has used the given CPU seconds, then exits: its CPU time is known.
BURN = "import sys, time\nwhile time.process_time() < float(sys.argv[1]): pass\n"


def burner(cpu: int, cpu_seconds: float) -> subprocess.Popen:
    return subprocess.Popen(["taskset", "--cpu-list", str(cpu), sys.executable, "-c", BURN, str(cpu_seconds)])


def finish(proc: subprocess.Popen) -> None:
    proc.wait(timeout=60)
    assert proc.returncode == 0


@pytest.fixture
def cpu():
    """The CPU the burners are pinned to: the last one this process may use."""
    return max(os.sched_getaffinity(0))


def sample_while(procs: list[subprocess.Popen], watched: subprocess.Popen, cpu: int, seconds: float):
    """Readings of ``watched``'s own CPU and of its CPU's busy share over ``seconds``; every process
    in ``procs`` is killed afterwards, whatever happened."""
    try:
        tree = sampler.ProcessTree(lambda: [psutil.Process(watched.pid)])
        busy = sampler.CpusBusy()
        tree.sample()  # primes psutil's per-process delta
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.2)  # the measuring interval, bounded by the deadline
        usage = tree.sample()
        busy.read()
        return usage, busy.mean([cpu])
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


def test_a_burning_process_fills_its_core_and_its_own_cpu_shows_it(cpu):
    proc = burner(cpu, 3.0)
    usage, busy = sample_while([proc], proc, cpu, 1.0)
    assert busy >= 90.0, "a CPU with a process burning on it is busy, whoever else runs"
    assert usage.cpu_pct <= busy + 5.0 and usage.processes == 1


def test_two_burners_on_one_core_each_use_half_while_the_core_is_full(cpu):
    """locust starved by a neighbour: its own CPU stays well below 90 % while its core is full, which
    is why the sampler records both and the limit rule reads both."""
    procs = [burner(cpu, 3.0), burner(cpu, 3.0)]
    usage, busy = sample_while(procs, procs[0], cpu, 1.0)
    assert busy >= 90.0
    assert usage.cpu_pct < 75.0
    assert usage.cpu_pct + usage.wait_pct >= 90.0, "it ran or waited for the CPU all the time: starved"


def test_a_sleeping_process_on_a_busy_core_does_not_wait_for_it(cpu):
    """A process that does not want the CPU (locust waiting for a slow server) has no run-queue
    wait however busy its core is: busy CPUs alone do not make it the limit."""
    procs = [burner(cpu, 3.0), subprocess.Popen(["taskset", "--cpu-list", str(cpu), "sleep", "3"])]
    usage, busy = sample_while(procs, procs[1], cpu, 1.0)
    assert busy >= 90.0
    assert usage.cpu_pct + usage.wait_pct < 10.0


def test_cpu_per_request_matches_a_process_whose_cpu_time_is_known(cpu):
    """A server that used 0.6 CPU seconds over 3,000 requests spent 200 µs on each."""
    proc = burner(cpu, 0.6)
    tree = sampler.ProcessTree(lambda: [psutil.Process(proc.pid)])
    start = time.time()
    first = tree.sample()
    samples = [{"at": start, "server_cpu_s": first.cpu_s}]
    while proc.poll() is None:  # the last reading before it exits holds all its CPU time
        reading = tree.sample()
        if reading is not None:
            last = reading
        time.sleep(0.05)  # polls the burner, which exits on its own after 0.6 CPU seconds
    finish(proc)
    end = time.time()
    samples.append({"at": end, "server_cpu_s": last.cpu_s})
    used = last.cpu_s - first.cpu_s
    assert 0.5 <= used <= 0.7, used
    summary = {"measure_start": start, "measure_end": end, "requests": 3000}
    assert aggregate.cpu_us_per_request(samples, summary) == pytest.approx(used / 3000 * 1e6, rel=0.01)


def test_the_window_keeps_samples_whose_interval_lies_inside_it():
    samples = [{"at": at} for at in (100.0, 100.9, 101.0, 104.0, 105.0, 105.5, 105.6)]
    kept = [s["at"] for s in sampler.window(samples, start=100.0, end=105.0)]
    assert kept == [101.0, 104.0, 105.0, 105.5], "the first interval starts at the window's start"


def test_missing_readings_stay_missing_and_means_skip_them():
    samples = [{"server_cpu_pct": 50.0}, {"server_cpu_pct": None}, {"server_cpu_pct": 70.0}]
    assert sampler.mean(samples, "server_cpu_pct") == 60.0
    assert sampler.mean([{"server_cpu_pct": None}], "server_cpu_pct") is None
    assert sampler.figures("server", None) == {"server_cpu_pct": None, "server_rss_mb": None, "server_cpu_s": None,
                                               "server_processes": None, "server_wait_pct": None}


def test_a_tree_with_no_process_left_gives_no_reading():
    assert sampler.ProcessTree(lambda: []).sample() is None


def test_cpu_seconds_skip_samples_without_a_reading():
    samples = [{"at": 0.0, "server_cpu_s": 1.0}, {"at": 0.4, "server_cpu_s": None},
               {"at": 11.6, "server_cpu_s": None}, {"at": 12.0, "server_cpu_s": 3.0}]
    assert sampler.cpu_seconds_between(samples, 0.5, 11.5) == (2.0, 12.0)


def test_a_failed_docker_stats_read_is_no_reading_not_zero():
    pytest.importorskip("docker")
    from docker.errors import APIError

    from lab.containers import ContainerUsage

    class Refusing:
        def stats(self, *args, **kwargs):
            raise APIError("the daemon refused")

    usage = ContainerUsage.__new__(ContainerUsage)
    usage.api, usage.container_id, usage.last = Refusing(), "c1", None
    assert usage.sample() is None
