"""Plan -> run -> raw results: the server x scenario matrix, measured one cell at a time.

For each cell: start the server on a free loopback port pinned to its CPUs, wait until it answers,
verify every route, then drive locust (pinned to the other CPUs) through a warm-up and the measured
window while sampling CPU and memory, and stop everything.  A cell that cannot be measured is
recorded as failed with its reason and the matrix goes on.  ``results.json`` is rewritten after
every cell, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Protocol

from lab import metadata, report
from lab.config import BenchOptions
from lab.process import Child, ProcessError, leftovers
from lab.results import Cell, CellFailed, Run, hand_over, limit_for, new_run_dir, point_latest, save
from lab.sampler import Busiest, ProcessTree, Sampler, mean, window
from lab.verify import verify
from servers import ServerConfig

#: Seconds a cell may run past warm-up + duration before its generator is treated as hung.
GENERATOR_GRACE_S = 60.0


class Progress(Protocol):
    """What the bench tells whoever watches it (the terminal, or nothing in tests)."""

    def cell_started(self, index: int, total: int, server: str, scenario: str) -> None: ...
    def stage(self, text: str) -> None: ...
    def cell_finished(self, cell: Cell) -> None: ...


class Server(Protocol):
    """A server ready to be measured, inside its ``with`` block (``lab.local``, ``lab.containers``)."""

    host: str
    port: int
    command: list[str]
    usage: object  # has sample() -> (cpu %, rss MB), like lab.sampler.ProcessTree

    def __enter__(self) -> Server: ...
    def __exit__(self, *exc_info) -> None: ...
    def failure(self) -> str | None: ...
    def log_tail(self) -> str: ...


class Backend(Protocol):
    """Where servers and locust workers come from: local processes or the compose project."""

    environment: str

    def server(self, config: ServerConfig, options: BenchOptions, log_path: Path, run_dir: Path) -> Server: ...
    def locust_workers(self, options: BenchOptions, files: CellFiles): ...  # context manager of usages
    def describe(self) -> dict: ...
    def finish(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class CellPlan:
    config: ServerConfig
    scenario: str


def plan(options: BenchOptions, configs: dict[str, ServerConfig]) -> list[CellPlan]:
    """Every server x scenario cell, server by server."""
    return [CellPlan(configs[name], scenario) for name in options.servers for scenario in options.scenarios]


def new_cell(cell_plan: CellPlan, options: BenchOptions) -> Cell:
    config = cell_plan.config
    return Cell(server=config.name, scenario=cell_plan.scenario, app=options.app, users=options.users,
                workers=options.workers if config.uses_workers else 1,
                threads=options.threads if config.uses_threads else 1, server_model=config.model)


def measure_cell(cell_plan: CellPlan, options: BenchOptions, backend: Backend, run_dir: Path,
                 progress: Progress) -> Cell:
    """One cell from start to stop; every failure becomes the cell's ``error``."""
    cell = new_cell(cell_plan, options)
    files = CellFiles.create(cell, run_dir)
    try:
        progress.stage("starting the server")
        server = backend.server(cell_plan.config, options, files.server_log, run_dir)
        cell.server_command = server.command
        with server:
            progress.stage("verifying every route")
            verification = verify(server.host, server.port)
            cell.verification = verification.to_json()
            if not verification.passed:
                raise CellFailed("verify failed, not measured: " + "; ".join(verification.problems))
            progress.stage(f"warm-up {options.warmup:g} s, then measuring {options.duration:g} s")
            drive_load(cell, server, backend, options, files)
        cell.status = "ok"
    except (CellFailed, ProcessError) as exc:
        cell.status, cell.error = "failed", str(exc)
    return cell


@dataclasses.dataclass(frozen=True)
class CellFiles:
    """Where one cell's logs and locust output go inside the run folder."""

    run_dir: Path
    stem: str

    @classmethod
    def create(cls, cell: Cell, run_dir: Path) -> CellFiles:
        for folder in ("logs", "locust"):
            (run_dir / folder).mkdir(exist_ok=True)
        return cls(run_dir, f"{cell.server.replace(':', '-')}__{cell.scenario}")

    @property
    def server_log(self) -> Path:
        return self.run_dir / "logs" / f"{self.stem}.server.log"

    @property
    def locust_log(self) -> Path:
        return self.run_dir / "logs" / f"{self.stem}.locust.log"

    def worker_log(self, index: int) -> Path:
        return self.run_dir / "logs" / f"{self.stem}.locust-worker{index}.log"

    @property
    def summary(self) -> Path:
        return self.run_dir / "locust" / f"{self.stem}.summary.json"

    @property
    def csv_prefix(self) -> Path:
        return self.run_dir / "locust" / self.stem


def locust_argv(server: Server, scenario: str, options: BenchOptions, files: CellFiles, workers: int) -> list[str]:
    return [sys.executable, "-m", "lab.locust_child", "--host", f"http://{server.host}:{server.port}",
            "--scenario", scenario, "--users", str(options.users), "--warmup", str(options.warmup),
            "--duration", str(options.duration), "--summary", str(files.summary),
            "--csv-prefix", str(files.csv_prefix), "--expect-workers", str(workers)]


def drive_load(cell: Cell, server: Server, backend: Backend, options: BenchOptions, files: CellFiles) -> None:
    """Run locust in its own pinned process while sampling both sides, then read its summary.

    With locust workers, the generator's CPU is the busiest worker's: each is one process.
    """
    started = time.time()
    with backend.locust_workers(options, files) as workers:
        expected = max(len(workers), options.locust_workers)  # plus workers on other hosts, if any
        argv = locust_argv(server, cell.scenario, options, files, expected)
        with Child(argv, options.generator_cpus, files.locust_log, files.run_dir) as generator:
            generator_usage = Busiest(workers) if workers else ProcessTree(generator.processes)
            sampler = Sampler(server.usage, generator_usage, options.generator_cpus)
            sampler.start()
            try:
                wait_for_generator(generator, server, options.warmup + options.duration + GENERATOR_GRACE_S)
            finally:
                samples = sampler.stop()
    cell.samples = [relative_sample(sample, started) for sample in samples]
    summary = json.loads(files.summary.read_text())
    record_figures(cell, summary, window(samples, summary["measure_start"], summary["measure_end"]))
    cell.csv_prefix = str(files.csv_prefix.relative_to(files.run_dir))


def relative_sample(sample: dict, started: float) -> dict:
    """A sample timed in seconds since the load started, as the report's timelines draw it."""
    figures = {key: value for key, value in sample.items() if key != "at"}
    return {"t": round(sample["at"] - started, 1), **figures}


def wait_for_generator(generator: Child, server: Server, timeout: float) -> None:
    """Wait for locust to finish, failing the cell at once if the server dies under load."""
    deadline = time.monotonic() + timeout
    while generator.exit_code() is None:
        failure = server.failure()
        if failure:
            raise CellFailed(f"{failure} during the load; log: {server.log_tail()}")
        if time.monotonic() > deadline:
            raise CellFailed(f"locust did not finish within {timeout:g} s; log: {generator.log_tail()}")
        time.sleep(0.5)
    if generator.exit_code() != 0:
        raise CellFailed(f"locust exited with code {generator.exit_code()}; log: {generator.log_tail()}")


def record_figures(cell: Cell, summary: dict, measured: list[dict]) -> None:
    """Copy the generator's summary and the sampled resources into the cell; derive rps and limit."""
    duration = summary["measure_end"] - summary["measure_start"]
    cell.duration_s = round(duration, 3)
    cell.requests = summary["requests"]
    cell.failures = summary["failures"] + summary["user_exceptions"]
    cell.failure_kinds = summary["failure_kinds"]
    cell.locust_workers = summary["workers"]
    cell.rps = round((cell.requests - summary["failures"]) / duration, 1)
    cell.latency_ms = summary["latency_ms"]
    cell.locust_latency_ms = summary["locust_latency_ms"]
    cell.server_cpu_pct = mean(measured, "server_cpu_pct")
    cell.server_rss_mb = mean(measured, "server_rss_mb")
    cell.generator_cpu_pct = mean(measured, "generator_cpu_pct")
    cell.generator_cores_busy_pct = mean(measured, "generator_cores_busy_pct")
    cell.limit = limit_for(cell.generator_cpu_pct, cell.generator_cores_busy_pct)


def reap_leftovers(run_dir: Path) -> int:
    """Kill any process still tagged with this run (there should be none); returns how many."""
    found = leftovers(run_dir)
    for proc in found:
        proc.kill()
    return len(found)


def run_matrix(options: BenchOptions, configs: dict[str, ServerConfig], backend: Backend,
               progress: Progress) -> tuple[Path, Run]:
    """Measure every planned cell into a new run folder; reports are written even if interrupted."""
    cells = plan(options, configs)
    run_dir = new_run_dir(options.out, metadata.now())
    run = Run(meta=metadata.collect(options, [configs[name] for name in options.servers], backend.environment))
    run.meta.update(backend.describe())
    run.meta["run_id"] = run_dir.name
    save(run, run_dir)
    point_latest(run_dir)
    try:
        for index, cell_plan in enumerate(cells, 1):
            progress.cell_started(index, len(cells), cell_plan.config.name, cell_plan.scenario)
            run.cells.append(measure_cell(cell_plan, options, backend, run_dir, progress))
            save(run, run_dir)
            progress.cell_finished(run.cells[-1])
        run.meta["status"] = "complete"
    except KeyboardInterrupt:
        run.meta["status"] = "interrupted"
        raise
    finally:
        run.meta["leftover_processes_killed"] = reap_leftovers(run_dir)
        backend.finish()
        run.meta["finished_at"] = metadata.now().isoformat(timespec="seconds")
        save(run, run_dir)
        report.write_reports(run_dir)
        hand_over(run_dir)
    return run_dir, run
