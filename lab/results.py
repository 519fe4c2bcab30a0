"""A run's result as one JSON document: metadata plus one record per server x scenario cell.

Reports are rendered from this document alone, so any old run can be re-rendered or compared.
The document is rewritten atomically after every cell, so an interrupted run keeps what it
finished (pyperf's ``dump`` and pytest-benchmark's storage follow the same rules: never overwrite
a run, never leave half a file).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from lab import limits

#: Version 3: ``limit`` is decided by ``lab.limits`` (generator, server or load, with ``limit_reason``).
SCHEMA_VERSION = 3
#: Version 1 lacked repeats, sweeps, rate and wrk: they read as absent.  Versions 1 and 2 named a
#: cell "server"-bound whenever locust's CPU was below 90 %: their limits are decided again on load.
READABLE_VERSIONS = (1, 2, 3)
RESULTS_FILE = "results.json"
LATEST = "latest"

#: The saturation threshold, recorded in every run's metadata (``lab.limits`` applies it).
GENERATOR_BOUND_CPU_PCT = limits.SATURATED_PCT


class ResultsError(Exception):
    """A results folder or document that cannot be used."""


class CellFailed(Exception):
    """Ends a cell early; its message becomes the cell's ``error``."""


@dataclasses.dataclass
class Cell:
    """One server x scenario x concurrency step measurement, or the reason it could not be made.

    ``status`` is ``ok`` or ``failed``; a failed cell keeps its ``error`` and whatever was
    measured before it failed, and never has figures invented for it (they stay ``None``).

    A cell is measured ``--repeat`` times (rounds of the whole matrix).  ``repeats`` holds each
    round's figures; the top-level figures are their medians (``requests`` and ``failures`` are
    totals), ``spread`` holds median, min, max and CV of ``rps``, ``p99`` and ``wrk_rps``, and
    ``noisy`` flags an rps CV above 5%.  With ``rate`` set, the load was a fixed arrival rate and
    ``latency_ms`` is measured from each request's intended start (coordinated omission).
    ``limit`` and ``limit_reason`` say what capped the throughput (``lab.limits``); ``notes`` keep
    what happened on the way that did not fail the cell (e.g. a port taken, and the retry).
    A round that fails after the cell was measured once is kept in ``failed_rounds`` with its
    reason; the cell's figures are then the medians of the rounds that were measured.
    """

    server: str
    scenario: str
    app: str
    status: str = "failed"
    error: str | None = None
    users: int = 0
    client: str = "fasthttp"  # locust's client: "lean" or "fasthttp" (every run before --client)
    rate: float | None = None
    aa_twin: bool = False
    locust_workers: int = 0
    workers: int = 0
    threads: int = 0
    server_model: str = ""
    server_command: list[str] = dataclasses.field(default_factory=list)
    verification: dict = dataclasses.field(default_factory=dict)
    duration_s: float | None = None
    requests: int | None = None
    failures: int | None = None
    failure_kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    rps: float | None = None
    latency_ms: dict[str, float] | None = None
    locust_latency_ms: dict[str, float] | None = None
    server_cpu_pct: float | None = None
    server_rss_mb: float | None = None
    server_processes: float | None = None
    server_rss_per_process_mb: float | None = None
    cpu_us_per_request: float | None = None
    concurrency: float | None = None
    littles_law_gap_pct: float | None = None
    server_cores_busy_pct: float | None = None
    server_wait_pct: float | None = None  # % of a core the server spent runnable, waiting for a CPU
    generator_cpu_pct: float | None = None
    generator_wait_pct: float | None = None  # % of a core locust spent runnable, waiting for a CPU
    generator_cores_busy_pct: float | None = None
    limit: str | None = None
    limit_reason: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    failed_rounds: list[dict] = dataclasses.field(default_factory=list)  # {"round", "reason"} after a first success
    wrk_rps: float | None = None
    wrk_latency_ms: dict[str, float] | None = None
    wrk_errors: int | None = None
    wrk_note: str | None = None
    repeats: list[dict] = dataclasses.field(default_factory=list)
    spread: dict[str, dict | None] = dataclasses.field(default_factory=dict)
    noisy: bool = False
    samples: list[dict] = dataclasses.field(default_factory=list)
    csv_prefix: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def generator_bound(self) -> bool:
        return self.limit == "generator"


@dataclasses.dataclass
class Run:
    """The whole result document: ``meta`` describes the environment and options, ``cells`` the figures."""

    meta: dict
    cells: list[Cell] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "meta": self.meta,
            "cells": [dataclasses.asdict(cell) for cell in self.cells],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Run:
        version = data.get("schema_version")
        if version not in READABLE_VERSIONS:
            raise ResultsError(f"results schema version {version!r} is not one of {READABLE_VERSIONS}")
        known = {field.name for field in dataclasses.fields(Cell)}
        cells = [Cell(**{k: v for k, v in cell.items() if k in known}) for cell in data["cells"]]
        if version < SCHEMA_VERSION:
            redecide_limits(cells, data["meta"], version)
        return cls(meta=data["meta"], cells=cells)


def redecide_limits(cells: list[Cell], meta: dict, version: int) -> None:
    """An older document's limits by today's rule, from its stored figures (its own rule named
    "server" whatever the server did); the reason says the limit was decided on reading."""
    setting = limits.Setting.of(meta)
    for cell in cells:
        limits.apply(cell, setting)
        cell.limit_reason += f" (decided on reading this schema {version} document)"


def load(run_dir: Path) -> Run:
    """Read a run folder's ``results.json``."""
    path = Path(run_dir) / RESULTS_FILE
    try:
        return Run.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ResultsError(f"{path} is not a lab result document: {exc}") from None


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and a rename: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(run: Run, run_dir: Path) -> Path:
    """Write ``results.json`` atomically, so an interrupted run never leaves half a document."""
    path = Path(run_dir) / RESULTS_FILE
    write_atomic(path, json.dumps(run.to_dict(), indent=2) + "\n")
    return path


def utc_stamp(moment: dt.datetime) -> str:
    """A folder name that sorts by time and says it is UTC, e.g. ``20261126T173000Z``."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(out: Path, moment: dt.datetime) -> Path:
    """Create a fresh run folder under ``out``; an existing folder is never reused."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = utc_stamp(moment)
    for attempt in range(1, 100):
        candidate = out / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise ResultsError(f"could not create a new run folder under {out}")


def point_latest(run_dir: Path) -> None:
    """Make ``<out>/latest`` a relative symlink to ``run_dir``, replaced atomically."""
    link = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def hand_over(run_dir: Path) -> None:
    """Give a run written as root (a container's runner) to the owner of the results folder.

    The host user who owns the bind-mounted ``results/`` can then read and delete it.
    """
    if os.geteuid() != 0:
        return
    owner = run_dir.parent.stat()
    if owner.st_uid == 0:
        return
    for path in [run_dir, *run_dir.rglob("*"), run_dir.parent / LATEST]:
        os.lchown(path, owner.st_uid, owner.st_gid)
