"""The generator's own ceiling: how many requests/s locust sends per scenario and client, at most.

Measured against the cheapest server the lab has (bjoern: a C event loop that answers plaintext
at tens of thousands of requests/s on one core), with the bench's users and CPU sets, so that
what caps the rate is locust's core, not the server.  ``python -m lab calibrate`` measures both
clients side by side and stores the result in ``OUT/calibration.json``; every bench records a
calibration in ``meta["calibration"]`` (``--calibration``), and ``lab.limits`` calls a cell
generator-bound when its rps reaches 90 % of its client's ceiling on its scenario.

A rate is a ceiling only where the server had room to spare, which wrk checks right after locust:
on ``io`` or ``cpu`` bjoern (one process, one thread) is the limit long before locust is, so those
scenarios get no ceiling, and ``measured`` says why.  Stored shape (``meta["calibration"]``)::

    {"measured_at": iso, "generator_cpus": [1], "server": "bjoern", "users": 32, "duration_s": 3.0,
     "ceilings": {"lean": {"plaintext": 19500.0, ...}, "fasthttp": {...}},
     "measured": {"lean": {"plaintext": {"rps", "generator_cpu_pct", "server_cpu_pct", "failures",
                                         "ceiling": true, "note"}}}, "server_note": None, "source": "..."}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from lab import bench, limits, metadata, wrk
from lab.config import BenchOptions, ConfigError
from lab.results import Cell, new_run_dir, write_atomic
from servers import ServerConfig

FILE_NAME = "calibration.json"
#: A calibration older than this, or from other generator CPUs, is measured again by ``auto``.
RECENT = dt.timedelta(hours=24)
#: The cheapest servers first: the first one available here serves the calibration.
SERVERS = ("bjoern", "granian", "waitress")
#: Short enough for the start of a bench (a few seconds per scenario), long enough to be stable;
#: never longer than the bench's own cells.
AT_BENCH_START = {"warmup": 1.0, "duration": 3.0}
#: A rate is the generator's ceiling only if the server had room to answer more: wrk, right after
#: locust against the same server (1 s, ``WRK_S``), got at least ``SERVER_ROOM`` times locust's rate.
#: On io bjoern sleeps through each request in turn, on cpu its core is full: wrk gets no more than
#: locust there, so neither is a ceiling.  CPU shares cannot tell this on a shared machine, where
#: other processes take part of either core.  Without wrk: the generator's CPU at least
#: ``GENERATOR_BUSY_PCT`` %.
WRK_S, GENERATOR_BUSY_PCT = 1.0, 50.0
SERVER_ROOM = limits.SERVER_ROOM  # the same room the limit rule asks of wrk
CLIENTS = ("fasthttp", "lean")


def cheapest(configs: dict[str, ServerConfig]) -> tuple[ServerConfig, str | None]:
    """bjoern, or the next cheapest server available, with a note saying why not bjoern."""
    reasons = []
    for name in SERVERS:
        config = configs.get(name)
        reason = "not a configuration of this lab" if config is None else config.unavailable_reason()
        if reason is None:
            return config, ("; ".join(reasons) + f": calibrated against {name}") if reasons else None
        reasons.append(f"{name} unavailable ({reason})")
    raise ConfigError("no server to calibrate against: " + "; ".join(reasons))


def server_limit(cell: Cell, server: str) -> str | None:
    """Why ``cell``'s rate is not the generator's ceiling, or None when it is."""
    if cell.failures:
        return f"{cell.failures} failures"
    if cell.wrk_rps is not None:
        if cell.wrk_rps >= SERVER_ROOM * cell.rps:
            return None
        return f"wrk got {cell.wrk_rps:,.0f} rps from {server}, locust {cell.rps:,.0f}: {server} was the limit"
    if (cell.generator_cpu_pct or 0.0) >= GENERATOR_BUSY_PCT:
        return None
    return f"generator CPU {cell.generator_cpu_pct or 0:.0f} % (no wrk to check the server's room)"


def measure_one(config: ServerConfig, scenario: str, client: str, options: BenchOptions, backend, run_dir: Path,
                progress) -> dict:
    """One short locust run of ``client`` on ``scenario`` against ``config``: a bench cell's figures."""
    cell = Cell(server=config.name, scenario=scenario, app=options.app, users=max(options.users), client=client,
                workers=1, threads=1, server_model=config.model)
    cell_plan = bench.CellPlan(config, scenario, cell.users, workers=1, threads=1)
    setting = limits.Setting(len(options.server_cpus) or None, None)
    bench.measure_round(cell, cell_plan, 1, options, backend, run_dir, progress, setting)
    if not cell.ok:
        return {"rps": None, "ceiling": False, "note": cell.error}
    per_core = cell.rps * 100 / cell.generator_cpu_pct if cell.rps and cell.generator_cpu_pct else None
    figures = {"rps": cell.rps, "generator_cpu_pct": cell.generator_cpu_pct, "server_cpu_pct": cell.server_cpu_pct,
               "failures": cell.failures, "rps_per_core": round(per_core, 1) if per_core else None}
    note = server_limit(cell, config.name)
    return {**figures, "wrk_rps": cell.wrk_rps, "ceiling": note is None, "note": note}


def calibrate(options: BenchOptions, configs: dict[str, ServerConfig], backend, progress, clients, run_dir: Path,
              warmup: float, duration: float) -> dict:
    """Measure every client x scenario of ``options`` against the cheapest server."""
    config, server_note = cheapest(configs)
    step = dataclasses.replace(options, app="raw", warmup=warmup, duration=duration, repeat=1, rate=None,
                               locust_workers=0, wrk="off" if wrk.unavailable_reason("") else "auto",
                               wrk_duration=WRK_S, workers=[1], threads=[1])
    measured: dict[str, dict] = {client: {} for client in clients}
    total = len(clients) * len(options.scenarios)
    for client in clients:
        for scenario in options.scenarios:
            progress.cell_started(sum(map(len, measured.values())) + 1, total,
                                  f"calibration: {client} × {scenario} against {config.name}")
            measured[client][scenario] = measure_one(config, scenario, client, step, backend, run_dir, progress)
    return {"measured_at": metadata.now().isoformat(timespec="seconds"), "generator_cpus": options.generator_cpus,
            "server": config.name, "server_note": server_note, "users": max(options.users), "duration_s": duration,
            "ceilings": {client: {scenario: figures["rps"] for scenario, figures in by_scenario.items()
                                  if figures["ceiling"]} for client, by_scenario in measured.items()},
            "measured": measured}


def load(path: Path) -> dict:
    """A calibration file, checked for the fields the lab reads."""
    try:
        document = json.loads(path.read_text())
        dt.datetime.fromisoformat(document["measured_at"])
        if not isinstance(document["ceilings"], dict) or not isinstance(document["generator_cpus"], list):
            raise TypeError("ceilings or generator_cpus of the wrong type")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a calibration file: {exc}") from None
    return document


def recent(document: dict, options: BenchOptions, now: dt.datetime) -> bool:
    """Measured within ``RECENT`` on the same generator CPUs."""
    age = now - dt.datetime.fromisoformat(document["measured_at"])
    return age <= RECENT and document["generator_cpus"] == options.generator_cpus


def covers(document: dict, options: BenchOptions, now: dt.datetime) -> bool:
    """Recent, and with every scenario of this bench measured for its client."""
    measured = document.get("measured", {}).get(options.client, {})
    return recent(document, options, now) and all(scenario in measured for scenario in options.scenarios)


def for_bench(options: BenchOptions, configs: dict[str, ServerConfig], backend, run_dir: Path,
              progress) -> dict | None:
    """What a bench records in ``meta["calibration"]`` (``--calibration``): None with ``off``; the
    given file; the stored calibration when recent; else a short one, measured now and stored
    when no recent file exists, for the next bench."""
    if options.calibration == "off":
        return None
    if options.calibration != "auto":
        return {**load(Path(options.calibration)), "source": options.calibration}
    path = options.out / FILE_NAME
    stored = load(path) if path.exists() else None
    if stored and covers(stored, options, metadata.now()):
        return {**stored, "source": str(path)}
    folder = run_dir / "calibration"
    folder.mkdir(exist_ok=True)
    try:
        document = calibrate(options, configs, backend, progress, [options.client], folder,
                             warmup=min(options.warmup, AT_BENCH_START["warmup"]),
                             duration=min(options.duration, AT_BENCH_START["duration"]))
    except ConfigError as exc:  # no server to calibrate against: the run goes on without a ceiling
        return {"error": str(exc), "ceilings": None}
    if not stored or not recent(stored, options, metadata.now()):  # never replace a recent, fuller one
        write_atomic(path, json.dumps(document, indent=2))
    return {**document, "source": "measured at the start of this bench"}


def standalone(options: BenchOptions, configs: dict[str, ServerConfig], backend, progress) -> tuple[Path, dict]:
    """``python -m lab calibrate``: both clients side by side, stored in ``OUT/calibration.json``."""
    run_dir = new_run_dir(options.out / "calibration", metadata.now())
    document = calibrate(options, configs, backend, progress, list(CLIENTS), run_dir, options.warmup,
                         options.duration)
    path = options.out / FILE_NAME
    write_atomic(path, json.dumps(document, indent=2))
    return path, document


def ratio(document: dict, scenario: str, key: str) -> str:
    lean, fast = (document["measured"][client][scenario].get(key) for client in ("lean", "fasthttp"))
    return f"{lean / fast:.1f}×" if lean and fast else "—"


def table(document: dict):
    """Both clients side by side, one row per scenario (a rich ``Table``).  "per CPU-second" compares
    requests per second of the generator's own CPU time, which other processes on a shared core
    do not change."""
    from rich.table import Table

    clients = list(document["measured"])
    title = f"generator ceiling against {document['server']}, {document['users']} users, " \
            f"generator CPUs {document['generator_cpus']}"
    grid = Table(title=title)
    grid.add_column("scenario")
    for client in clients:
        grid.add_column(f"{client} rps", justify="right")
        grid.add_column(f"{client} CPU", justify="right")
    both = clients == list(CLIENTS)
    if both:
        grid.add_column("lean / fasthttp", justify="right")
        grid.add_column("per CPU-second", justify="right")
    for scenario in next(iter(document["measured"].values())):
        row = [scenario]
        for client in clients:
            figures = document["measured"][client][scenario]
            mark = "" if figures["ceiling"] else " (not a ceiling)"
            row.append("—" if figures["rps"] is None else f"{figures['rps']:,.0f}{mark}")
            row.append("—" if figures.get("generator_cpu_pct") is None else f"{figures['generator_cpu_pct']:.0f} %")
        if both:
            row += [ratio(document, scenario, "rps"), ratio(document, scenario, "rps_per_core")]
        grid.add_row(*row)
    return grid
