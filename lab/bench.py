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
import random
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Protocol

from lab import limits, live, metadata, report, wrk
from lab.aggregate import apply_rounds, noise_floor, round_figures
from lab.report.figures import capacity
from lab.config import BenchOptions
from lab.process import Child, ProcessError, leftovers, wait_for
from lab.results import Cell, CellFailed, Run, hand_over, new_run_dir, point_latest, save
from lab.sampler import Busiest, ProcessTree, Sampler, window
from lab.verify import verify
from servers import ServerConfig

#: Seconds a cell may run past warm-up + duration before its generator is treated as hung.
GENERATOR_GRACE_S = 60.0


class Progress(Protocol):
    """What the bench tells whoever watches it (the terminal, or nothing in tests)."""

    def cell_started(self, index: int, total: int, label: str) -> None: ...
    def stage(self, text: str) -> None: ...
    def cell_finished(self, cell: Cell) -> None: ...


class Server(Protocol):
    """A server ready to be measured, inside its ``with`` block (``lab.local``, ``lab.containers``)."""

    host: str
    port: int
    command: list[str]
    notes: list[str]  # what happened while starting it that did not fail it (a port retried)
    usage: object  # has sample() -> (cpu %, rss MB), like lab.sampler.ProcessTree

    def __enter__(self) -> Server: ...
    def __exit__(self, *exc_info) -> None: ...
    def failure(self) -> str | None: ...
    def log_tail(self) -> str: ...


class Backend(Protocol):
    """Where servers and locust workers come from: local processes or the compose project."""

    environment: str

    def server(self, config: ServerConfig, options: BenchOptions, workers: int, threads: int, log_path: Path,
               run_dir: Path) -> Server: ...
    def locust_workers(self, options: BenchOptions, files: CellFiles): ...  # context manager of usages
    def describe(self) -> dict: ...
    def finish(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class CellPlan:
    config: ServerConfig
    scenario: str
    users: int
    workers: int
    threads: int
    twin: bool = False  # the A/A twin of another cell
    rate: float | None = None  # the common-rate step's offered rate (else ``--rate``)


def settings(config: ServerConfig, options: BenchOptions) -> list[tuple[int, int]]:
    """The (workers, threads) steps a configuration has: a sweep only varies what it uses."""
    workers = options.workers if config.uses_workers else [1]
    threads = options.threads if config.uses_threads else [1]
    return [(w, t) for w in workers for t in threads]


def plan(options: BenchOptions, configs: dict[str, ServerConfig]) -> list[CellPlan]:
    """Every configuration x its settings x scenario x concurrency step, server by server."""
    return [CellPlan(configs[name], scenario, users, workers, threads) for name in options.servers
            for workers, threads in settings(configs[name], options)
            for scenario in options.scenarios for users in options.users]


def new_cell(cell_plan: CellPlan, options: BenchOptions) -> Cell:
    return Cell(server=cell_plan.config.name, scenario=cell_plan.scenario, app=options.app,
                users=cell_plan.users, client=options.client, rate=cell_plan.rate or options.rate, workers=cell_plan.workers, threads=cell_plan.threads,
                server_model=cell_plan.config.model, aa_twin=cell_plan.twin)


@dataclasses.dataclass(frozen=True)
class CellFiles:
    """Where one round of one cell writes its logs and locust output inside the run folder."""

    run_dir: Path
    stem: str

    @classmethod
    def create(cls, cell: Cell, round_no: int, run_dir: Path) -> CellFiles:
        for folder in ("logs", "locust"):
            (run_dir / folder).mkdir(exist_ok=True)
        name = f"{cell.server.replace(':', '-')}__w{cell.workers}t{cell.threads}__{cell.scenario}__u{cell.users}"
        name += "__aa" if cell.aa_twin else ""
        name += f"__rate{cell.rate:g}" if cell.rate else ""
        return cls(run_dir, f"{name}__r{round_no}")

    def log(self, kind: str) -> Path:
        """``server``, ``locust``, ``wrk`` or ``locust-worker<i>``."""
        return self.run_dir / "logs" / f"{self.stem}.{kind}.log"

    @property
    def summary(self) -> Path:
        return self.run_dir / "locust" / f"{self.stem}.summary.json"

    @property
    def csv_prefix(self) -> Path:
        return self.run_dir / "locust" / self.stem


def measure_round(cell: Cell, cell_plan: CellPlan, round_no: int, options: BenchOptions, backend: Backend,
                  run_dir: Path, progress: Progress, setting: limits.Setting) -> None:
    """One round of one cell, from start to stop; a failure becomes the cell's ``error``.

    ``setting`` (the run's CPU sets and calibration) lets ``lab.limits`` decide the cell's limit."""
    files = CellFiles.create(cell, round_no, run_dir)
    try:
        progress.stage("starting the server")
        server = backend.server(cell_plan.config, options, cell.workers, cell.threads, files.log("server"),
                                run_dir)
        cell.server_command = server.command
        with server:
            cell.server_command = server.command  # the port may have changed on a retry
            cell.notes += server.notes
            progress.stage("verifying every route")
            verification = verify(server.host, server.port)
            cell.verification = verification.to_json()
            if not verification.passed:
                raise CellFailed("verify failed, not measured: " + "; ".join(verification.problems))
            progress.stage(f"warm-up {options.warmup:g} s, then measuring {options.duration:g} s")
            figures = drive_load(cell, server, backend, options, files)
            figures.update(peak(cell, server, options, files, progress))
        cell.repeats.append(figures)
        apply_rounds(cell, setting)
        cell.status, cell.error = "ok", None
    except (CellFailed, ProcessError) as exc:
        record_failure(cell, round_no, options, str(exc))


def record_failure(cell: Cell, round_no: int, options: BenchOptions, reason: str) -> None:
    """A cell never measured fails with the reason; a later round's failure (a server killed, a
    port lost) is kept in ``failed_rounds`` and the cell keeps the medians of its measured rounds,
    so one bad round neither hides the others nor ends the cell's later rounds."""
    if cell.repeats:
        cell.failed_rounds.append({"round": round_no, "reason": reason})
        return
    prefix = f"round {round_no}: " if options.repeat > 1 else ""
    cell.status, cell.error = "failed", prefix + reason


def locust_argv(server: Server, cell: Cell, options: BenchOptions, files: CellFiles, workers: int) -> list[str]:
    argv = [sys.executable, "-m", "lab.locust_child", "--host", f"http://{server.host}:{server.port}",
            "--scenario", cell.scenario, "--client", cell.client, "--users", str(cell.users),
            "--warmup", str(options.warmup),
            "--duration", str(options.duration), "--summary", str(files.summary),
            "--csv-prefix", str(files.csv_prefix), "--expect-workers", str(workers)]
    ui_port = live.locust_ui_port(options.live)
    argv += [f"--web-ui={live.bind_address(options.mode)}:{ui_port}"] if ui_port else []
    return argv + (["--rate", str(cell.rate)] if cell.rate else [])


def drive_load(cell: Cell, server: Server, backend: Backend, options: BenchOptions, files: CellFiles) -> dict:
    """Run locust in its own pinned process while sampling both sides; returns the round's figures.

    With locust workers, the generator's CPU is the busiest worker's: each is one process.
    """
    started = time.time()
    with backend.locust_workers(options, files) as workers:
        expected = max(len(workers), options.locust_workers)  # plus workers on other hosts, if any
        if expected and cell.rate:
            raise CellFailed("--rate drives users from one locust process; stop the locust workers")
        argv = locust_argv(server, cell, options, files, expected)
        with Child(argv, options.generator_cpus, files.log("locust"), files.run_dir) as generator:
            generator_usage = Busiest(workers) if workers else ProcessTree(generator.processes)
            sampler = Sampler(server.usage, generator_usage, options.generator_cpus, options.server_cpus)
            sampler.start()
            try:
                wait_for(generator, "locust", server, options.warmup + options.duration + GENERATOR_GRACE_S)
            finally:
                samples = sampler.stop()
    summary = json.loads(files.summary.read_text())
    measured = window(samples, summary["measure_start"], summary["measure_end"])
    figures = round_figures(summary, measured, samples, cell.users, cell.rate)
    figures["samples"] = [relative_sample(sample, started) for sample in samples]
    figures["csv_prefix"] = str(files.csv_prefix.relative_to(files.run_dir))
    return figures


def peak(cell: Cell, server: Server, options: BenchOptions, files: CellFiles, progress: Progress) -> dict:
    """wrk's peak rps on the same server and concurrency, or why there is none."""
    reason = "wrk turned off (--wrk off)" if options.wrk == "off" else wrk.unavailable_reason(cell.scenario)
    if reason:
        return {"wrk_note": reason}
    progress.stage(f"peak capacity with wrk, {options.wrk_duration:g} s")
    return wrk.measure(server, cell.scenario, cell.users, options.generator_cpus, options.wrk_duration,
                       files.log("wrk"), files.run_dir)


def relative_sample(sample: dict, started: float) -> dict:
    """A sample timed in seconds since the load started, as the report's timelines draw it."""
    figures = {key: value for key, value in sample.items() if key != "at"}
    return {"t": round(sample["at"] - started, 1), **figures}


def reap_leftovers(run_dir: Path) -> int:
    """Kill any process still tagged with this run (there should be none); returns how many."""
    found = leftovers(run_dir)
    for proc in found:
        proc.kill()
    return len(found)


def cell_label(cell: Cell, round_no: int, options: BenchOptions) -> str:
    """``gunicorn × json`` plus the users step and round when there are several."""
    label = f"{cell.server} × {cell.scenario}" + (" (A/A twin)" if cell.aa_twin else "")
    if len(options.workers) > 1 or len(options.threads) > 1:
        label = f"{cell.server} ({cell.workers} workers × {cell.threads} threads) × {cell.scenario}"
    if len(options.users) > 1:
        label += f", {cell.users} users"
    label += f" at {cell.rate:,.0f} rps" if cell.rate else ""
    return label + (f", round {round_no}/{options.repeat}" if options.repeat > 1 else "")


def with_aa_twin(plans: list[CellPlan], options: BenchOptions) -> list[CellPlan]:
    """With repeats, the first cell is planned twice (an A/A pair): their difference is the run's
    noise floor, the smallest difference between two cells that can mean anything."""
    if options.repeat < 2 or not plans:
        return plans
    return [*plans, dataclasses.replace(plans[0], twin=True)]


def round_order(count: int, round_no: int, options: BenchOptions) -> list[int]:
    """Plan order for a single round; with repeats a fresh order per round from the recorded seed,
    so slow drift on a shared machine does not favour whichever server runs first."""
    order = list(range(count))
    if options.repeat > 1:
        random.Random(f"{options.seed}:{round_no}").shuffle(order)
    return order


def run_rounds(run: Run, plans: list[CellPlan], options: BenchOptions, backend: Backend, run_dir: Path,
               progress: Progress) -> None:
    """``--repeat`` rounds of the matrix; a cell joins ``run.cells`` once its first round is done.

    ``run.cells`` keeps the plan's order whatever order the rounds ran in.  A cell that was never
    measured is not tried again in later rounds: it stays failed with its reason.  A cell measured
    once goes on in every round; a round that fails then is kept with its reason (``record_failure``).
    """
    plans = with_aa_twin(plans, options)
    earlier = list(run.cells)  # cells of an earlier step (the matrix, before the common-rate step)
    cells: dict[int, Cell] = {}
    done, total = 0, len(plans) * options.repeat
    for round_no in range(1, options.repeat + 1):
        for index in round_order(len(plans), round_no, options):
            cell = cells.get(index) or new_cell(plans[index], options)
            done += 1
            if not cell.ok and round_no > 1:
                continue
            progress.cell_started(done, total, cell_label(cell, round_no, options))
            measure_round(cell, plans[index], round_no, options, backend, run_dir, progress,
                          limits.Setting.of(run.meta))
            cells[index] = cell
            run.cells = earlier + [cells[i] for i in sorted(cells)]
            run.meta["noise_floor"] = noise_floor(run.cells)
            save(run, run_dir)
            progress.cell_finished(cell)


#: The common-rate step: each scenario's offered rate is this share of its slowest configuration's
#: capacity, measured in short cells (no wrk: its peak is the matrix's) so the default bench fits.
COMMON_RATE_SHARE = 0.5
COMMON_RATE_DURATION_S = 4.0
COMMON_RATE_WARMUP_S = 1.0


def common_rate(options: BenchOptions, cells: list[Cell], scenario: str) -> dict | None:
    """A scenario's common offered rate and how it was chosen; None when there is no step."""
    if options.compare_rate == "off" or options.rate:
        return None
    if options.compare_rate != "auto":
        return {"rate": float(options.compare_rate), "basis": "set with --compare-rate"}
    best: dict[tuple, tuple[float, str]] = {}
    for cell in cells:
        found = capacity(cell) if cell.scenario == scenario and not cell.aa_twin else None
        key = (cell.server, cell.workers, cell.threads)
        if found is not None and found.rps > best.get(key, (0.0, ""))[0]:
            best[key] = (found.rps, found.source)
    if not best:
        return None
    slowest = min(best, key=lambda key: best[key][0])
    rps, source = best[slowest]
    rate = float(max(1, round(COMMON_RATE_SHARE * rps)))
    return {"rate": rate, "basis": f"{COMMON_RATE_SHARE * 100:g} % of the slowest, {slowest[0]}'s {rps:,.0f} rps "
                                   f"({source})"}


#: The scenarios ``--compare-scenarios auto`` picks when the bench runs them: the cheapest route and
#: the blend of all four default routes.  Every scenario would add a third to the default bench.
COMMON_RATE_AUTO = ("plaintext", "mixed")


def common_rate_scenarios(options: BenchOptions) -> list[str]:
    """The bench's scenarios that get the common-rate step (``--compare-scenarios``)."""
    wanted = options.compare_scenarios
    if wanted == ["all"]:
        return list(options.scenarios)
    if wanted == ["auto"]:
        picked = [name for name in options.scenarios if name in COMMON_RATE_AUTO]
        return picked or list(options.scenarios)
    return [name for name in options.scenarios if name in wanted]


def common_rate_plans(options: BenchOptions, configs: dict[str, ServerConfig], rates: dict) -> list[CellPlan]:
    """One cell per configuration and scenario at its common rate, with the top users step."""
    users = max(options.users)
    return [dataclasses.replace(cell_plan, users=users, rate=rates[cell_plan.scenario]["rate"])
            for cell_plan in plan(dataclasses.replace(options, users=[users]), configs)
            if cell_plan.scenario in rates]


def run_common_rate(run: Run, options: BenchOptions, configs: dict[str, ServerConfig], backend: Backend,
                    run_dir: Path, progress: Progress) -> None:
    """The common-rate step: every configuration at one offered rate per scenario that all could carry,
    so latency is compared at the same load (``meta.common_rate`` says how each rate was chosen)."""
    rates = {scenario: found for scenario in common_rate_scenarios(options)
             if (found := common_rate(options, run.cells, scenario))}
    if not rates:
        return
    run.meta["common_rate"] = rates
    step = dataclasses.replace(options, repeat=1, duration=min(options.duration, COMMON_RATE_DURATION_S),
                               warmup=min(options.warmup, COMMON_RATE_WARMUP_S), wrk="off")
    run_rounds(run, common_rate_plans(options, configs, rates), step, backend, run_dir, progress)


def run_in_new_folder(options: BenchOptions, configs: dict[str, ServerConfig], backend: Backend,
                      measure: Callable[[Run, Path], None]) -> tuple[Path, Run]:
    """A new run folder, its metadata, the measurements, and reports written even if interrupted."""
    run_dir = new_run_dir(options.out, metadata.now())
    run = Run(meta=metadata.collect(options, [configs[name] for name in options.servers], backend.environment))
    run.meta.update(backend.describe())
    run.meta["run_id"] = run_dir.name
    save(run, run_dir)
    point_latest(run_dir)
    try:
        measure(run, run_dir)
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


def run_probes(run: Run, options: BenchOptions, configs: dict[str, ServerConfig], backend: Backend,
               run_dir: Path, progress: Progress) -> None:
    """The conformance probes of every server, stored in ``meta.probes`` server by server, then the
    ``--corpus`` replay in ``meta.corpus``."""
    from lab import probe

    run.meta["probes"] = {}
    for index, name in enumerate(options.servers, 1):
        progress.cell_started(index, len(options.servers), f"{name}: conformance probes")
        run.meta["probes"][name] = probe.probe_server(configs[name], options, backend, run_dir, progress)
        save(run, run_dir)
    if options.corpus is not None:
        run.meta["corpus"] = {"folder": str(options.corpus), "servers": {}}
        for name in options.servers:
            run.meta["corpus"]["servers"][name] = probe.replay_corpus(configs[name], options, backend, run_dir,
                                                                      options.corpus, progress)
            save(run, run_dir)


def bench(options: BenchOptions, configs: dict[str, ServerConfig], backend: Backend,
          progress: Progress) -> tuple[Path, Run]:
    """``python -m lab bench``: the probes if asked for, then every round of the matrix."""
    def measure(run: Run, run_dir: Path) -> None:
        if options.probes == "on" or options.corpus is not None:
            run_probes(run, options, configs, backend, run_dir, progress)
        from lab import calibrate

        run.meta["calibration"] = calibrate.for_bench(options, configs, backend, run_dir, progress)
        save(run, run_dir)
        run_rounds(run, plan(options, configs), options, backend, run_dir, progress)
        run_common_rate(run, options, configs, backend, run_dir, progress)

    return run_in_new_folder(options, configs, backend, measure)


def probe(options: BenchOptions, configs: dict[str, ServerConfig], backend: Backend,
          progress: Progress) -> tuple[Path, Run]:
    """``python -m lab probe``: the conformance probes alone, in a run folder of their own."""
    return run_in_new_folder(options, configs, backend,
                             lambda run, run_dir: run_probes(run, options, configs, backend, run_dir, progress))
