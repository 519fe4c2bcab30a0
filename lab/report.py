"""Render a run's result document as a Markdown report and a self-contained HTML report.

A report is a pure function of the document that ``lab.results`` writes (``results.json``): it
reads nothing else, so any old run can be re-rendered, and the same document always gives the
same report.  Figures are formatted here and only placed by the Jinja2 templates in
``lab/templates``; the HTML report carries its CSS and its charts (matplotlib SVG) inline, so it
can be mailed or archived as a single file and opened without network access.

A run has one cell per server × scenario × users step; each cell may have been measured in
several rounds (``repeats``), whose median it carries.  The judgements (spread and noise, the
generator's ceiling, a server's knee in a sweep) come from ``lab.stats``; this module only shows
them.  Three rules shape everything below:

* A figure that was not measured is shown as "—", never as 0, and a failed cell keeps its error.
* A cell whose load generator was the limit only gives a lower bound of the server's throughput,
  so it is marked "≥", drawn hatched or hollow, and never ranked among server-bound cells.  The
  generator was the limit when its CPU was saturated (``limit == "generator"``) or when locust's
  rps reached ``CEILING_SHARE`` of the generator's ceiling: locust's rps against the server with
  the highest wrk peak, i.e. the most locust could send at that step.
* Noise is shown, not hidden: a cell measured in several rounds reads "median (min–max, CV)", and a
  cell whose rps varies by more than ``NOISY_CV_PCT`` is flagged noisy.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import re
import shlex
import tempfile
from pathlib import Path

import jinja2
import markupsafe
import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullLocator

from lab.aggregate import LITTLES_LAW_TOLERANCE_PCT
from lab.results import GENERATOR_BOUND_CPU_PCT, Cell, Run, load
from lab.stats import (
    CEILING_SHARE,
    KNEE_ERROR_PCT,
    KNEE_P99_FACTOR,
    NOISY_CV_PCT,
    at_ceiling,
    generator_ceiling,
    is_noisy,
    knee,
    spread,
)

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TEMPLATES = Path(__file__).parent / "templates"

#: Shown wherever a figure is missing; a missing figure must never read as a measured zero.
MISSING = "—"

#: Latency percentiles shown in the tables and the latency chart, with their column titles
#: (``max`` follows them in the tables).
PERCENTILES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"), ("p9999", "p99.99"))

#: In fixed-rate mode, achieved rps below this share of the offered rate is marked "not met"
#: (a little slack for the edges of the measured window).
RATE_MET_SHARE = 0.97

#: A wrk note that says wrk could not run at all on this machine (rather than "not for this route").
WRK_MISSING = re.compile(r"not installed|not found|missing|no wrk|cannot (be )?(run|found|execute)", re.I)


# --------------------------------------------------------------------------------------------
# Formatting: one small function per kind of figure, each mapping None to MISSING.
# --------------------------------------------------------------------------------------------


def format_ms(value: float | None) -> str:
    """A latency in milliseconds: 3 decimals below 1 ms, where the HDR histogram's microsecond
    precision matters, fewer above, where it would only be noise."""
    if value is None:
        return MISSING
    if value < 1:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.2f}"
    return f"{value:,.1f}"


def format_rps(value: float | None, lower_bound: bool = False) -> str:
    """Requests per second; ``lower_bound`` prefixes "≥" because a generator-bound cell only
    shows how much the generator could send, not how much the server could take."""
    if value is None:
        return MISSING
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"≥ {text}" if lower_bound else text


def format_pct(value: float | None) -> str:
    """A CPU percentage (100 = one full core) with one decimal."""
    return MISSING if value is None else f"{value:.1f}"


def format_mb(value: float | None) -> str:
    """A resident set size in MB with one decimal."""
    return MISSING if value is None else f"{value:,.1f}"


def format_count(value: int | None) -> str:
    """A count with thousands separators, so request totals can be compared at a glance."""
    return MISSING if value is None else f"{value:,}"


def format_failures(failures: int | None, requests: int | None) -> str:
    """``failures / requests``: both numbers, so a handful of failures is not hidden in a rate."""
    if failures is None and requests is None:
        return MISSING
    return f"{format_count(failures)} / {format_count(requests)}"


def format_users(users: int) -> str:
    """A concurrency step: "1 user", "32 users"."""
    return f"{users} user" if users == 1 else f"{users} users"


def format_range(figures: dict | None) -> str:
    """The spread of repeated rps figures: "(min–max, CV x.x %)", or "" for a single round."""
    if not figures or (figures.get("n") or 0) < 2:
        return ""
    cv = figures.get("cv_pct")
    cv_text = f", CV {cv:.1f} %" if cv is not None else ""
    return f"({format_rps(figures['min'])}–{format_rps(figures['max'])}{cv_text})"


def format_generator_cpu(cell: Cell) -> str:
    """locust's CPU %, plus its cores' total busy % where that is what made the cell generator-bound."""
    own = format_pct(cell.generator_cpu_pct)
    busy = cell.generator_cores_busy_pct
    if busy is None or cell.generator_cpu_pct is None or busy - cell.generator_cpu_pct < 5:
        return own
    return f"{own} (cores {format_pct(busy)} busy)"


def format_limit(cell: Cell, ceiling_reached: bool = False) -> str:
    """What capped the cell, in words a reader cannot mistake for a server ranking.

    ``ceiling_reached``: locust's rps reached the generator's ceiling at this step (see
    ``Limits``), so the figure is a lower bound even though locust's CPU was not saturated.
    """
    if not cell.ok:
        return f"failed: {cell.error or 'no reason recorded'}"
    if cell.limit == "generator" and ceiling_reached:
        return "generator-bound (lower bound); at the generator's ceiling"
    if cell.limit == "generator":
        return "generator-bound (lower bound)"
    if ceiling_reached:
        return "at the generator's ceiling (lower bound: compare wrk peak)"
    if cell.limit == "server":
        return "server"
    return "unknown (no generator CPU figure)"


def format_command(argv: list[str] | None) -> str:
    """The exact server command line, quoted so it can be pasted into a shell."""
    return shlex.join(argv) if argv else MISSING


def format_cpus(cpus: list[int] | None) -> str:
    """A CPU set as ranges ("0-3, 6"), the way ``taskset -c`` takes it."""
    if not cpus:
        return "not pinned"
    ordered = sorted(set(cpus))
    parts: list[str] = []
    start = prev = ordered[0]
    for cpu in ordered[1:] + [None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ", ".join(parts)


def format_value(value) -> str:
    """An option or metadata value: lists joined, booleans as yes/no, None as MISSING."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(item) for item in value) or MISSING
    if isinstance(value, dict):
        return ", ".join(f"{key}={format_value(item)}" for key, item in value.items()) or MISSING
    return str(value)


def format_revision(lab: dict | None) -> str:
    """The lab's git revision, flagged when the working tree had uncommitted changes."""
    lab = lab or {}
    revision = lab.get("revision") or "unknown"
    return f"{revision} (dirty: uncommitted changes)" if lab.get("dirty") else revision


def format_host(host: dict | None) -> str:
    """CPU model and count, the first thing to check before comparing two runs."""
    host = host or {}
    model = host.get("cpu_model") or "unknown CPU"
    count = host.get("cpu_count")
    return f"{model}, {count} CPUs" if count else model


def format_failure_kinds(kinds: dict[str, int] | None) -> str:
    """Request failure messages with their counts, most frequent first."""
    if not kinds:
        return ""
    ordered = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))
    return "; ".join(f"{message} ×{count:,}" for message, count in ordered)


def format_us(value: float | None) -> str:
    """Server CPU time per request in µs: whole µs from 100 up, one decimal below."""
    if value is None:
        return MISSING
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def format_number(value: float | None) -> str:
    """A mean count (processes, requests in flight): no decimals when it is whole."""
    if value is None:
        return MISSING
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def format_signed_pct(value: float | None) -> str:
    """A signed difference in %, with a real minus sign: "+27.1 %", "−36.8 %"."""
    if value is None:
        return MISSING
    return f"{'−' if value < 0 else '+'}{abs(value):.1f} %"


def format_share(value: float | None) -> str:
    """A difference or share in % without sign, one decimal: "3.4 %"."""
    return MISSING if value is None else f"{value:.1f} %"


def plural(count: float, word: str) -> str:
    return f"{format_number(count)} {word}" + ("" if count == 1 else "s")


# --------------------------------------------------------------------------------------------
# Reading the document: steps, rounds, spreads, the generator's ceiling and each server's knee.
# --------------------------------------------------------------------------------------------


def _unique(items) -> list:
    seen: dict = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def server_order(run: Run) -> list[str]:
    """Servers in the order the run was asked for, then any others that appear in the document."""
    options = run.meta.get("options") or {}
    return _unique(
        list(options.get("servers") or [])
        + [cell.server for cell in run.cells]
        + list((run.meta.get("servers") or {}).keys())
    )


def contest_cells(run: Run) -> list[Cell]:
    """The cells that take part in tables, charts and rankings: every cell but the A/A twin, which
    only measures the run's noise floor (it is shown in that section alone)."""
    return [cell for cell in run.cells if not cell.aa_twin]


def server_shapes(run: Run) -> dict[str, list[tuple[int, int]]]:
    """Per server, the (workers, threads) settings its cells were measured with, sorted."""
    shapes: dict[str, set[tuple[int, int]]] = {}
    for cell in run.cells:
        shapes.setdefault(cell.server, set()).add((cell.workers, cell.threads))
    return {server: sorted(found) for server, found in shapes.items()}


def shape_label(server: str, workers: int, threads: int, swept: bool) -> str:
    """A configuration's name: the server, plus "2w×8t" (2 workers × 8 threads) when the run
    measured that server with more than one setting, so its rows never read as duplicates."""
    return f"{server} {workers}w×{threads}t" if swept else server


def config_label(run: Run, cell: Cell) -> str:
    """The label of a cell's configuration, e.g. ``gunicorn:gthread 2w×8t`` or just ``waitress``."""
    return shape_label(cell.server, cell.workers, cell.threads, len(server_shapes(run).get(cell.server, ())) > 1)


@dataclasses.dataclass(frozen=True)
class Contender:
    """One configuration compared in the tables: a server with one workers × threads setting."""

    label: str
    server: str
    workers: int | None = None  # None: the server has no cell (unavailable or not run)
    threads: int | None = None


def contenders(run: Run) -> list[Contender]:
    """Every configuration of the run, in the order its servers were asked for, fewest workers and
    threads first; a server without cells is one contender named by the server alone."""
    shapes = server_shapes(run)
    out = []
    for server in server_order(run):
        found = shapes.get(server)
        if not found:
            out.append(Contender(server, server))
            continue
        for workers, threads in found:
            out.append(Contender(shape_label(server, workers, threads, len(found) > 1), server, workers, threads))
    return out


def is_swept(run: Run) -> bool:
    """True when some server was measured with more than one workers × threads setting."""
    return any(len(found) > 1 for found in server_shapes(run).values())


def probes_only(run: Run) -> bool:
    """A run of conformance probes alone (``python -m lab probe``): no cell, only ``meta.probes``."""
    return not run.cells and bool(run.meta.get("probes"))


def scenario_order(run: Run) -> list[str]:
    """Scenarios in the order the run was asked for, then any others found in cells."""
    options = run.meta.get("options") or {}
    return _unique(list(options.get("scenarios") or []) + [cell.scenario for cell in run.cells])


def users_steps(run: Run) -> list[int]:
    """The concurrency steps of the run, lowest first: the planned ones (``meta.options.users``,
    a list, or a single number in older documents) and any others found in cells."""
    planned = (run.meta.get("options") or {}).get("users")
    if not isinstance(planned, (list, tuple)):
        planned = [planned]
    steps = {int(users) for users in planned if isinstance(users, (int, float)) and users > 0}
    steps |= {cell.users for cell in run.cells if cell.users}
    return sorted(steps)


def is_sweep(run: Run) -> bool:
    """True when the run measured more than one users step."""
    return len(users_steps(run)) > 1


def rounds(run: Run) -> int:
    """How many rounds each cell was measured in (``--repeat``), 1 for older documents."""
    planned = (run.meta.get("options") or {}).get("repeat")
    measured = max((len(cell.repeats) for cell in run.cells), default=0)
    return max(int(planned or 0), measured, 1)


def where(run: Run, scenario: str, users: int | None) -> str:
    """A cell's place in words: the scenario, plus its users step when the run swept several."""
    return f"{scenario} at {format_users(users)}" if users and is_sweep(run) else scenario


def _figure_spread(cell: Cell, key: str) -> dict | None:
    """The recorded spread of one repeated figure, else computed from the rounds; None for one round."""
    figures = (cell.spread or {}).get(key)
    if figures is None and len(cell.repeats) > 1:
        source = {"p99": lambda r: (r.get("latency_ms") or {}).get("p99")}.get(key, lambda r: r.get(key))
        figures = spread([source(r) for r in cell.repeats])
    return figures if figures and (figures.get("n") or 0) > 1 else None


def rps_spread(cell: Cell) -> dict | None:
    """Median, min, max and CV of the cell's rps over its rounds (None for a single round)."""
    return _figure_spread(cell, "rps")


def wrk_spread(cell: Cell) -> dict | None:
    """Median, min, max and CV of the cell's wrk peak rps over its rounds (None for a single round)."""
    return _figure_spread(cell, "wrk_rps")


def noisy(cell: Cell) -> bool:
    """True when the cell's rps varied by more than ``NOISY_CV_PCT`` over its rounds."""
    return cell.ok and (bool(cell.noisy) or is_noisy(rps_spread(cell)))


def cell_samples(cell: Cell) -> list[dict]:
    """The resource samples to draw for a cell: its first round's when rounds kept their own,
    else the cell's."""
    for figures in cell.repeats:
        if figures.get("samples"):
            return figures["samples"]
    return cell.samples or []


def rate_missed(cell: Cell) -> bool:
    """True when a fixed-rate cell achieved less than ``RATE_MET_SHARE`` of its offered rate."""
    return bool(cell.ok and cell.rate and cell.rps is not None and cell.rps < RATE_MET_SHARE * cell.rate)


@dataclasses.dataclass(frozen=True)
class Ceiling:
    """The generator's ceiling at one scenario and users step (``stats.generator_ceiling``)."""

    scenario: str
    users: int
    rps: float  # locust's rps against ``server``
    server: str  # the configuration (label) with the highest wrk peak at this step
    wrk_rps: float

    @property
    def share_rps(self) -> float:
        """Locust figures at or above this are at the generator's ceiling."""
        return CEILING_SHARE * self.rps


def generator_ceilings(run: Run) -> dict[tuple[str, int], Ceiling]:
    """The generator's ceiling per (scenario, users step), where some ok cell has a wrk peak."""
    groups: dict[tuple[str, int], list[Cell]] = {}
    for cell in contest_cells(run):
        if cell.ok and cell.rps is not None:
            groups.setdefault((cell.scenario, cell.users), []).append(cell)
    out = {}
    for (scenario, users), cells in groups.items():
        locust = {config_label(run, cell): cell.rps for cell in cells}
        peaks = {config_label(run, cell): cell.wrk_rps for cell in cells if cell.wrk_rps is not None}
        value = generator_ceiling(locust, peaks)
        if value is None:
            continue
        fastest = max(peaks, key=peaks.get)  # the server generator_ceiling took locust's rps from
        out[(scenario, users)] = Ceiling(scenario, users, value, fastest, peaks[fastest])
    return out


class Limits:
    """Which ok cells only give a lower bound of their server's capacity, and why.

    A cell is a lower bound when its generator's CPU was saturated (``cell.limit == "generator"``,
    decided when it was measured) or when locust's rps reached ``CEILING_SHARE`` of the generator's
    ceiling at its scenario and users step (``stats.at_ceiling``).
    """

    def __init__(self, run: Run) -> None:
        self.ceilings = generator_ceilings(run)

    def ceiling(self, cell: Cell) -> Ceiling | None:
        return self.ceilings.get((cell.scenario, cell.users))

    def at_ceiling(self, cell: Cell) -> bool:
        ceiling = self.ceiling(cell)
        return cell.ok and ceiling is not None and at_ceiling(cell.rps, ceiling.rps)

    def lower_bound(self, cell: Cell) -> bool:
        return cell.ok and (cell.generator_bound or self.at_ceiling(cell))


def knee_steps(run: Run, scenario: str, server: str) -> list[dict]:
    """A configuration's measured steps in a scenario as ``stats.knee`` takes them, lowest users
    first; ``server`` is the configuration's label (``config_label``).

    Only ok cells with both an rps and a p99 take part; a failed step is left out (and named
    beside the knee), never counted as zero.
    """
    steps = []
    for cell in sorted(contest_cells(run), key=lambda c: c.users):
        if cell.scenario != scenario or config_label(run, cell) != server or not cell.ok or cell.rps is None:
            continue
        p99 = (cell.latency_ms or {}).get("p99")
        if p99 is None:
            continue
        error_pct = (cell.failures or 0) / cell.requests * 100 if cell.requests else 0.0
        steps.append({"users": cell.users, "rps": cell.rps, "p99": p99, "error_pct": error_pct})
    return steps


def knee_rule() -> str:
    """The knee rule in words, with the thresholds ``lab.stats`` applies."""
    return (f"a server's knee is the last users step before its p99 latency grew at least "
            f"{KNEE_P99_FACTOR:g} times more than its throughput at the next step (more users bought "
            f"latency, not requests/s), or its failed requests reached {KNEE_ERROR_PCT:g} % there")


def sweep_knees(run: Run, scenario: str, limits: Limits | None = None) -> list[dict]:
    """Per server: its figures at every users step and its knee in words (``stats.knee``)."""
    limits = limits or Limits(run)
    steps = users_steps(run)
    rows = []
    for server in [contender.label for contender in contenders(run)]:
        cells = {c.users: c for c in contest_cells(run) if c.scenario == scenario and config_label(run, c) == server}
        if not cells:
            continue
        figures = []
        for users in steps:
            cell = cells.get(users)
            if cell is None:
                figures.append(MISSING)
            elif not cell.ok:
                figures.append("failed")
            else:
                lower = limits.lower_bound(cell)
                p99 = format_ms((cell.latency_ms or {}).get("p99"))
                figures.append(f"{format_rps(cell.rps, lower)} rps, p99 {p99} ms")
        measured = knee_steps(run, scenario, server)
        found = knee(measured) if len(measured) >= 2 else None
        if found is not None:
            after = measured[[s["users"] for s in measured].index(found["users"]) + 1]
            reasons = []
            if found["p99"] and after["p99"] > found["p99"]:
                gain = f", rps ×{after['rps'] / found['rps']:.2f}" if found.get("rps") and after.get("rps") else ""
                reasons.append(f"p99 ×{after['p99'] / found['p99']:.1f} to {format_ms(after['p99'])} ms{gain}")
            if after["error_pct"] >= KNEE_ERROR_PCT > found["error_pct"]:
                reasons.append(f"failed requests {after['error_pct']:.1f} %")
            text = (f"knee at {format_users(found['users'])}: p99 {format_ms(found['p99'])} ms at "
                    f"{format_rps(found['rps'])} rps (at {format_users(after['users'])}: {', '.join(reasons)})")
        elif len(measured) >= 2:
            text = "no knee within the sweep"
        else:
            text = "too few measured steps to find a knee"
        failed = [format_users(u) for u, c in sorted(cells.items()) if not c.ok]
        if failed:
            text += f"; failed at {', '.join(failed)}"
        rows.append({"server": server, "figures": figures, "knee": text, "users": found["users"] if found else None})
    return rows


# --------------------------------------------------------------------------------------------
# The view model: what both templates show, computed once from the document.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    """One configuration's place in a scenario (at one users step): its cell, or why there is none.

    ``server`` is the configuration's label (``config_label``): the server's name unless the run
    measured it with several workers × threads settings.
    """

    server: str
    cell: Cell | None
    missing: str | None = None  # "unavailable: ..." or "not run" when there is no cell

    @property
    def measured(self) -> bool:
        """True when the cell has a throughput that may be drawn and compared."""
        return self.cell is not None and self.cell.ok and self.cell.rps is not None

    @property
    def gap_label(self) -> str:
        """The word drawn in place of a bar when there is no figure to draw."""
        if self.cell is not None:
            return "failed" if not self.cell.ok else "no figure"
        return "unavailable" if (self.missing or "").startswith("unavailable") else "not run"


def threshold(run: Run) -> float:
    """The generator CPU % at which a cell counts as generator-bound, as recorded by the run."""
    value = run.meta.get("generator_bound_cpu_pct")
    return float(value) if value is not None else GENERATOR_BOUND_CPU_PCT


def top_step(run: Run, scenario: str | None = None) -> int | None:
    """The highest users step (of ``scenario``, among the steps it has cells for; an interrupted
    sweep may not have reached the planned top): where the single-step charts of a sweep are drawn."""
    reached = [cell.users for cell in contest_cells(run) if cell.scenario == scenario and cell.users]
    steps = sorted(reached) or users_steps(run)
    return steps[-1] if steps else None


def scenario_entries(run: Run, scenario: str, users: int | None = None) -> list[Entry]:
    """Every configuration of the run for one scenario (at one users step; the highest by
    default), so a missing cell is visible rather than absent.  The A/A twin is never an entry."""
    users = top_step(run, scenario) if users is None else users
    servers_meta = run.meta.get("servers") or {}
    cells = {config_label(run, cell): cell for cell in contest_cells(run)
             if cell.scenario == scenario and (users is None or cell.users == users or not cell.users)}
    entries = []
    for contender in contenders(run):
        if contender.label in cells:
            entries.append(Entry(contender.label, cells[contender.label]))
            continue
        info = servers_meta.get(contender.server) or {}
        if info.get("available") is False:
            entries.append(Entry(contender.label, None, f"unavailable: {info.get('reason') or 'no reason recorded'}"))
        else:
            entries.append(Entry(contender.label, None, "not run"))
    return entries


def has_resources(run: Run) -> bool:
    """True when the run recorded the resource figures of newer benches: CPU per request, RSS per
    process, achieved concurrency (older documents have none, and their reports stay as they were)."""
    return any(value is not None for cell in run.cells
               for value in (cell.cpu_us_per_request, cell.concurrency, cell.server_rss_per_process_mb))


def columns(run: Run) -> dict[str, bool]:
    """Optional table columns: the offered rate (fixed-rate runs), the wrk peak (runs with at
    least one wrk figure: a column of "—" would only repeat what the caveats say once) and the
    resource figures (CPU µs per request, RSS per process, requests in flight)."""
    return {
        "offered": any(cell.rate for cell in run.cells),
        "wrk": any(cell.wrk_rps is not None for cell in run.cells),
        "resources": has_resources(run),
    }


_FIGURE_KEYS = ("rps", "offered", "wrk", "server_cpu", "server_rss", "generator_cpu", "failures", "max",
                "cpu_us", "processes", "rss_per_process", "rss_per_process_mb", "concurrency", "gap", "gap_value")


def littles_law_flag(cell: Cell) -> str | None:
    """``"negative"`` or ``"positive"`` when a closed-loop cell's requests in flight differ from
    its users by more than ``LITTLES_LAW_TOLERANCE_PCT`` (Little's law: in flight = rps × mean
    latency); None when within it, in fixed-rate mode or without the figure."""
    gap = cell.littles_law_gap_pct
    if not cell.ok or cell.rate or gap is None or abs(gap) <= LITTLES_LAW_TOLERANCE_PCT:
        return None
    return "negative" if gap < 0 else "positive"


def format_gap(cell: Cell) -> str:
    """The Little's law gap of a cell: "−36.8 %", flagged beyond the tolerance; "fixed rate" in
    rate mode, where the rate and not the users sets the concurrency."""
    if cell.rate:
        return "fixed rate"
    text = format_signed_pct(cell.littles_law_gap_pct)
    return f"{text} flagged" if littles_law_flag(cell) else text


def format_per_process(cell: Cell) -> str:
    """RSS per process with the process count: "21.2 × 3"."""
    if cell.server_rss_per_process_mb is None:
        return MISSING
    if cell.server_processes is None:
        return format_mb(cell.server_rss_per_process_mb)
    return f"{format_mb(cell.server_rss_per_process_mb)} × {format_number(cell.server_processes)}"


def _row(entry: Entry, rank: int | None, group: str, limits: Limits) -> dict:
    cell = entry.cell
    if cell is None:
        blank = {key: MISSING for key in _FIGURE_KEYS}
        blank.update({title: MISSING for _, title in PERCENTILES})
        return {"group": group, "rank": None, "server": entry.server, "users": None, "limit": entry.missing,
                "rps_main": MISSING, "rps_range": "", "noisy": False, "gap_flag": None,
                "wrk_main": MISSING, "wrk_range": "", "wrk_is_note": False, **blank}
    latency = cell.latency_ms or {}
    lower = limits.lower_bound(cell)
    rps_main = format_rps(cell.rps, lower_bound=lower)
    rps_range = format_range(rps_spread(cell)) if cell.ok else ""
    is_noisy_cell = noisy(cell)
    wrk_main, wrk_range, wrk_is_note = MISSING, "", False
    if cell.ok and cell.wrk_rps is not None:
        wrk_main = format_rps(cell.wrk_rps)
        wrk_range = format_range(wrk_spread(cell))
        if cell.wrk_errors:
            wrk_range = (wrk_range + " " if wrk_range else "") + f"{cell.wrk_errors:,} errors"
    elif cell.ok and cell.wrk_note:
        wrk_main, wrk_is_note = cell.wrk_note, True
    offered = MISSING
    if cell.rate:
        offered = format_rps(cell.rate) + (" (not met)" if rate_missed(cell) else "")
    row = {
        "group": group,
        "rank": rank,
        "server": entry.server,
        "users": cell.users,
        "rps": " ".join(part for part in (rps_main, rps_range, "noisy" if is_noisy_cell else "") if part),
        "rps_main": rps_main,
        "rps_range": rps_range,
        "noisy": is_noisy_cell,
        "offered": offered,
        "wrk": " ".join(part for part in (wrk_main, wrk_range) if part),
        "wrk_main": wrk_main,
        "wrk_range": wrk_range,
        "wrk_is_note": wrk_is_note,
        "max": format_ms(latency.get("max")),
        "failures": format_failures(cell.failures, cell.requests),
        "server_cpu": format_pct(cell.server_cpu_pct),
        "server_rss": format_mb(cell.server_rss_mb),
        "generator_cpu": format_generator_cpu(cell),
        "limit": format_limit(cell, ceiling_reached=limits.at_ceiling(cell)),
        "cpu_us": format_us(cell.cpu_us_per_request),
        "processes": format_number(cell.server_processes),
        "rss_per_process": format_per_process(cell),
        "rss_per_process_mb": format_mb(cell.server_rss_per_process_mb),
        "concurrency": format_number(cell.concurrency),
        "gap": format_gap(cell) if cell.ok else MISSING,
        "gap_value": ("fixed rate" if cell.rate else format_signed_pct(cell.littles_law_gap_pct)) if cell.ok else MISSING,
        "gap_flag": littles_law_flag(cell),
    }
    row.update({title: format_ms(latency.get(key)) for key, title in PERCENTILES})
    return row


def scenario_rows(run: Run, scenario: str, users: int | None = None, limits: Limits | None = None) -> list[dict]:
    """One table's rows (a scenario at one users step) in clearly separated groups.

    Only server-bound ok cells are ranked (by rps, highest first): their rps is the server's
    capacity.  Cells whose generator was the limit (CPU-saturated, or at the generator's ceiling)
    follow, unranked, because their rps is only a lower bound and ranking it against real
    capacities would be wrong in either direction.  Then ok cells whose limit is unknown, failed
    cells, and servers without a cell.
    """
    limits = limits or Limits(run)
    groups: dict[str, list[Entry]] = {"server": [], "generator": [], "unknown": [], "failed": [], "missing": []}
    for entry in scenario_entries(run, scenario, users):
        cell = entry.cell
        if cell is None:
            groups["missing"].append(entry)
        elif not cell.ok:
            groups["failed"].append(entry)
        elif limits.lower_bound(cell):
            groups["generator"].append(entry)
        elif cell.limit == "server" and cell.rps is not None:
            groups["server"].append(entry)
        else:
            groups["unknown"].append(entry)
    by_rps = lambda entry: -(entry.cell.rps if entry.cell and entry.cell.rps is not None else -1)  # noqa: E731
    rows = [_row(entry, rank, "server", limits) for rank, entry in enumerate(sorted(groups["server"], key=by_rps), 1)]
    for group in ("generator", "unknown"):
        rows += [_row(entry, None, group, limits) for entry in sorted(groups[group], key=by_rps)]
    rows += [_row(entry, None, "failed", limits) for entry in groups["failed"]]
    rows += [_row(entry, None, "missing", limits) for entry in groups["missing"]]
    return rows


def ceiling_sentence(run: Run, ceiling: Ceiling, limits: Limits) -> str:
    """The generator's ceiling at one step in words, with the cells it marks."""
    marked = [config_label(run, c) for c in contest_cells(run)
              if (c.scenario, c.users) == (ceiling.scenario, ceiling.users) and limits.at_ceiling(c)]
    return (f"Generator ceiling at {format_users(ceiling.users)}: {format_rps(ceiling.rps)} rps, locust's rate "
            f"against {ceiling.server}, the server with the highest wrk peak ({format_rps(ceiling.wrk_rps)} rps). "
            f"Locust figures at or above {CEILING_SHARE * 100:g} % of it ({format_rps(ceiling.share_rps)} rps) are "
            f"at the generator's ceiling: {', '.join(marked)}. For those, locust's rps only shows what locust "
            f"could send; the wrk peak is the figure to compare the servers' capacity.")


def scenario_view(run: Run, scenario: str, limits: Limits, close: Closeness | None = None) -> dict:
    """Everything one scenario's section shows: its sweep, one table per users step (with the
    generator-bound cells ranked by CPU per request beneath it), chart notes."""
    close = close or Closeness(run.meta.get("noise_floor"))
    steps = users_steps(run) or [None]
    sweep = len(steps) > 1
    tables = []
    for users in steps:
        ceiling = limits.ceilings.get((scenario, users))
        rows = scenario_rows(run, scenario, users, limits)
        if not any(row["wrk_main"] != MISSING and not row["wrk_is_note"] for row in rows):
            # No wrk figure in the whole table: one "—" per row; the reason is said once, above it.
            for row in rows:
                row.update(wrk=MISSING, wrk_main=MISSING, wrk_range="", wrk_is_note=False)
        tables.append({
            "users": users,
            "label": where(run, scenario, users),
            "anchor": f"scenario-{scenario}-{users}" if users else f"scenario-{scenario}-all",
            "rows": rows,
            "ceiling": ceiling_sentence(run, ceiling, limits) if ceiling else "",
            "efficiency": efficiency_view(run, scenario, users, limits, close),
        })
    cells = [c for c in contest_cells(run) if c.scenario == scenario]
    notes = _unique(c.wrk_note for c in cells if c.wrk_note)
    no_ceiling = ""
    if columns(run)["wrk"] and not any(t["ceiling"] for t in tables):
        no_ceiling = ("No wrk peak and no generator ceiling for this scenario"
                      + (f": {'; '.join(notes)}" if notes else "") + ".")
    top = top_step(run, scenario) if sweep else steps[-1]
    timeline_cells = [c for c in cells if c.users == top or top is None or not c.users]
    return {
        "name": scenario,
        "sweep": sweep,
        "steps": [format_users(u) for u in steps if u],
        "knees": sweep_knees(run, scenario, limits) if sweep else [],
        "tables": tables,
        "no_ceiling": no_ceiling,
        "top": where(run, scenario, top),
        "top_users": format_users(top) if top else "",
        "throughput_log": sweep and _log_scale(_sweep_throughputs(run, scenario)),
        "has_wrk": any(c.ok and c.wrk_rps is not None for c in cells),
        "has_ceiling": any(t["ceiling"] for t in tables),
        "no_samples": [config_label(run, c) + ("" if c.ok else " (failed)") for c in timeline_cells
                       if not cell_samples(c)],
    }


def server_rows(run: Run) -> list[dict]:
    """One row per server: version, model, workers/threads and the exact command(s) it ran with."""
    servers_meta = run.meta.get("servers") or {}
    rows = []
    for server in server_order(run):
        info = servers_meta.get(server) or {}
        cells = [cell for cell in run.cells if cell.server == server]
        models = _unique([cell.server_model for cell in cells if cell.server_model]) or [info.get("model")]
        shapes = _unique([f"{cell.workers} / {cell.threads}" for cell in cells])
        # One exact command per workers × threads setting (the first cell's): cells differ only by port.
        firsts = {}
        for cell in cells:
            if cell.server_command:
                firsts.setdefault((cell.workers, cell.threads), format_command(cell.server_command))
        commands = list(firsts.values())
        warnings = _unique(w for cell in cells for w in (cell.verification or {}).get("warnings") or [])
        available = info.get("available")
        rows.append({
            "server": server,
            "version": info.get("version") or MISSING,
            "available": "unavailable: " + (info.get("reason") or "no reason recorded") if available is False else "",
            "model": format_value([m for m in models if m]) if any(models) else MISSING,
            "shape": ", ".join(shapes) if shapes else MISSING,
            "commands": commands,
            "warnings": warnings if cells else None,
        })
    return rows


def _rate_view(run: Run) -> dict | None:
    """Fixed-rate mode in figures: the offered rate, each step's per-user schedule, missed targets."""
    rated = [cell for cell in contest_cells(run) if cell.rate]
    if not rated:
        return None
    per_user = []
    for users in users_steps(run):
        rates = _unique(cell.rate for cell in rated if cell.users == users)
        for rate in rates:
            each = rate / users
            per_user.append(f"{format_rps(rate)} req/s ÷ {format_users(users)} = {format_rps(each)} req/s per "
                            f"user, one request every {format_ms(1000 / each)} ms")
    return {
        "rates": ", ".join(format_rps(rate) for rate in _unique(cell.rate for cell in rated)),
        "per_user": per_user,
        "missed": [{"scenario": where(run, c.scenario, c.users), "server": config_label(run, c), "rps": format_rps(c.rps),
                    "rate": format_rps(c.rate)} for c in rated if rate_missed(c)],
        "met_share": f"{RATE_MET_SHARE * 100:g}",
    }


def _ordered(run: Run, cells: list[Cell]) -> list[Cell]:
    """Cells in report order: scenario, then users step, then server, as the run was asked for."""
    scenarios, servers = scenario_order(run), server_order(run)
    return sorted(cells, key=lambda c: (scenarios.index(c.scenario), c.users, servers.index(c.server), c.workers,
                                        c.threads, c.aa_twin))


def caveats(run: Run, limits: Limits | None = None) -> dict:
    """Everything a reader must know before trusting a number, gathered for the top of the report."""
    limits = limits or Limits(run)
    meta = run.meta
    servers_meta = meta.get("servers") or {}
    ok = [cell for cell in contest_cells(run) if cell.ok]
    cpus = meta.get("cpus") or {}
    shared = sorted(set(cpus.get("server") or []) & set(cpus.get("generator") or []))
    has_wrk = any(cell.wrk_rps is not None for cell in run.cells)
    notes = _unique(cell.wrk_note for cell in run.cells if cell.wrk_note)
    missing_wrk = [note for note in notes if WRK_MISSING.search(note)]

    ok = _ordered(run, ok)

    def name(cell: Cell) -> str:
        return config_label(run, cell) + (" (A/A twin)" if cell.aa_twin else "")

    def reason(cell: Cell) -> str:
        ceiling = limits.ceiling(cell) if limits.at_ceiling(cell) else None
        parts = []
        if cell.generator_bound:
            parts.append(f"generator CPU {format_generator_cpu(cell)} %")
        if ceiling:
            parts.append(f"at the generator's ceiling ({format_rps(ceiling.rps)} rps against {ceiling.server})")
        if cell.wrk_rps is not None:
            parts.append(f"wrk peak {format_rps(cell.wrk_rps)} rps")
        return ", ".join(parts)

    return {
        "generator_bound": [
            {"scenario": where(run, c.scenario, c.users), "server": name(c), "rps": format_rps(c.rps, True),
             "generator_cpu": format_generator_cpu(c), "reason": reason(c)}
            for c in ok if limits.lower_bound(c)
        ],
        "unknown_limit": [{"scenario": where(run, c.scenario, c.users), "server": name(c)}
                          for c in ok if c.limit not in ("generator", "server") and not limits.lower_bound(c)],
        "failed": [
            {"scenario": where(run, c.scenario, c.users), "server": name(c), "error": c.error or "no reason recorded",
             "problems": [p for p in (c.verification or {}).get("problems") or [] if p not in (c.error or "")]}
            for c in _ordered(run, run.cells) if not c.ok
        ],
        "request_failures": [
            {"scenario": where(run, c.scenario, c.users), "server": name(c),
             "failures": format_failures(c.failures, c.requests), "kinds": format_failure_kinds(c.failure_kinds)}
            for c in ok if c.failures
        ],
        "notes": [
            {"server": server, "notes": list((servers_meta.get(server) or {}).get("notes") or [])}
            for server in server_order(run) if (servers_meta.get(server) or {}).get("notes")
        ],
        "unavailable": [
            {"server": server, "reason": (servers_meta.get(server) or {}).get("reason") or "no reason recorded"}
            for server in server_order(run) if (servers_meta.get(server) or {}).get("available") is False
        ],
        "shared_cpus": format_cpus(shared) if shared else "",
        "dirty": bool((meta.get("lab") or {}).get("dirty")),
        "rounds": rounds(run),
        "single_round": rounds(run) == 1 and "repeat" in (meta.get("options") or {}),
        "noisy": [
            {"scenario": where(run, c.scenario, c.users), "server": name(c),
             "rps": format_rps(c.rps), "range": format_range(rps_spread(c))}
            for c in ok if noisy(c)
        ],
        "has_wrk": has_wrk,
        "wrk_notes": notes,
        "wrk_missing": "; ".join(missing_wrk) if missing_wrk and not has_wrk else "",
        "ceilings": [
            {"scenario": where(run, c.scenario, c.users), "rps": format_rps(c.rps), "server": c.server,
             "wrk": format_rps(c.wrk_rps), "share": format_rps(c.share_rps)}
            for c in sorted(limits.ceilings.values(),
                            key=lambda c: (scenario_order(run).index(c.scenario), c.users))
        ],
        "rate": _rate_view(run),
    }


# --------------------------------------------------------------------------------------------
# Judgements across configurations: noise floor, Little's law, efficiency, which server for what.
# --------------------------------------------------------------------------------------------

#: Without a measured noise floor, a runner-up within this % of the best is not beaten.
CLOSE_WITHOUT_FLOOR_PCT = 5.0
#: TechEmpower sees up to this much (%) between back-to-back runs of the same test.
BETWEEN_RUNS_PCT = 25.0
#: The latency comparison reads each configuration at the users step whose rps is the highest at
#: or below this share of that configuration's own peak rps (across its steps).
LATENCY_SHARE = 0.75
#: What the workload scenarios ask of the server, as ``loadtests.scenarios`` sends it (a test
#: checks they agree; the report reads nothing but results.json, so they are stated here).
IO_WAIT_MS = 20
BODY_KB = {"large": 64, "upload": 64}
SCENARIO_ABOUT = {
    "io": f"GET /io?ms={IO_WAIT_MS}: each request waits {IO_WAIT_MS} ms on the server, like a database call, "
          "and uses almost no CPU.",
    "cpu": "GET /cpu: each request burns about 1 ms of pure-Python CPU on the server.",
    "large": f"GET /bytes/{BODY_KB['large']}: each answer is a {BODY_KB['large']} KiB body.",
    "upload": f"POST /upload: each request sends a {BODY_KB['upload']} KiB body that the server reads.",
    "plaintext": "GET /plaintext: a 13-byte answer; the work is the server's own per-request overhead.",
    "json": "GET /json: a small JSON answer; the work is the server's own per-request overhead.",
    "home": "GET /: a small HTML page; the work is the server's own per-request overhead.",
    "signin": "GET /signin, then POST /sign with a form: two small requests per iteration.",
    "mixed": "plaintext, json, home and signin, weighted 4:3:2:1.",
}
#: What each conformance probe means for someone running the server (``lab.probes``).
PROBE_MEANING = {
    "keep-alive": "Without keep-alive every request pays a new TCP connection: latency and throughput lost "
                  "behind a proxy that reuses connections, or with browsers.",
    "pipelining": "Some proxies and clients pipeline: answering both in order is right, closing after the "
                  "first is a safe refusal, anything else corrupts traffic.",
    "chunked-body": "Streamed uploads arrive chunked: a server that cannot de-chunk refuses them or hands the "
                    "app an empty body.",
    "head": "Monitors and caches send HEAD: a body sent anyway desynchronises keep-alive connections.",
    "expect-100": "curl and many libraries send Expect: 100-continue with uploads and wait (curl: 1 s) for "
                  "it: without it, every such upload waits.",
    "header-16k": "Big cookies and tokens make 8-16 KB headers real: refusing them breaks those clients.",
    "header-64k": "A 64 KB header is abuse: refusing it with a 4xx is fine; crashing or hanging is not.",
    "malformed-request-line": "Scanners send garbage to every public port: it should get a cheap 4xx and "
                              "never crash, hang or reach the app.",
    "body-over-cap": "The app refuses oversized bodies (413) before reading them: the server must still "
                     "deliver that answer, not reset the connection.",
    "slow-client": "A slow or malicious client must not hold the only worker, or one connection takes the "
                   "site down: put a buffering proxy in front of a server that fails this.",
    "connections-over-workers": "Bursts bigger than the server's workers are routine: they should be queued "
                                "and answered, not refused or left hanging.",
    "sigterm-under-load": "Deploys, autoscalers and docker stop send SIGTERM: a graceful server answers "
                          "what is in flight and exits within the grace period (10 s in Docker).",
}
PROBE_OUTCOMES = (("ok", "what a production server should do"), ("differs", "legitimate, but worth knowing"),
                  ("fails", "wrong or broken"), ("error", "the probe itself could not run"))


def gap_pct(a: float | None, b: float | None) -> float | None:
    """How far apart two figures are, in % of their mean: the measure of ``aggregate.noise_floor``."""
    if a is None or b is None or a + b == 0:
        return None
    return abs(a - b) / ((a + b) / 2) * 100


def names(items: list[str]) -> str:
    """"A", "A and B", "A, B and C"."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclasses.dataclass(frozen=True)
class Closeness:
    """How close two configurations must be to count as no clear winner: the run's noise floor for
    that figure, or ``CLOSE_WITHOUT_FLOOR_PCT`` when the run measured none."""

    floor: dict | None

    KEYS = {"rps": "rps_diff_pct", "p99": "p99_diff_pct", "cpu": "cpu_us_per_request_diff_pct"}

    def limit(self, figure: str) -> float:
        value = (self.floor or {}).get(self.KEYS[figure])
        return float(value) if value is not None else CLOSE_WITHOUT_FLOOR_PCT

    def phrase(self, figure: str) -> str:
        if (self.floor or {}).get(self.KEYS[figure]) is not None:
            return f"within the noise floor ({format_share(self.limit(figure))})"
        return f"within {CLOSE_WITHOUT_FLOOR_PCT:g} % (no noise floor was measured)"


@dataclasses.dataclass
class Pick:
    """The best of some candidates (label, figure, cell), the runner-up, and those too close to call."""

    best: tuple[str, float, Cell]
    runner_up: tuple[str, float, Cell] | None
    tied: list[tuple[str, float, Cell]]  # the best's equals within the closeness limit, best first


def pick(candidates: list[tuple[str, float, Cell]], higher_is_better: bool, figure: str, close: Closeness) -> Pick:
    ordered = sorted(candidates, key=lambda c: -c[1] if higher_is_better else c[1])
    best = ordered[0]
    tied = [c for c in ordered[1:] if (gap_pct(best[1], c[1]) or 0.0) <= close.limit(figure)]
    return Pick(best, ordered[1] if len(ordered) > 1 else None, [best, *tied] if tied else [])


def concurrency_kind(cell: Cell) -> str:
    """How a configuration serves requests at once, read from its name and model: ``greenlets``
    (gevent: a waiting request yields), ``thread per connection``, or ``slots`` (workers ×
    threads, each serving one request at a time)."""
    model = (cell.server_model or "").lower()
    if "gevent" in cell.server or "greenlet" in model or "eventlet" in cell.server:
        return "greenlets"
    if "per connection" in model:
        return "thread per connection"
    return "slots"


def served_at_once(cell: Cell) -> int | None:
    """Requests the configuration can hold at once while each waits: workers × threads for
    process and thread models, one per connection (the users) for a thread per connection, None
    for greenlets (no fixed number)."""
    kind = concurrency_kind(cell)
    if kind == "greenlets":
        return None
    if kind == "thread per connection":
        return cell.users
    return max(cell.workers, 1) * max(cell.threads, 1)


def format_settings(cell: Cell) -> str:
    """A configuration's settings in words: "2 workers × 8 threads", "2 workers, greenlets"."""
    kind = concurrency_kind(cell)
    workers = plural(max(cell.workers, 1), "worker")
    if kind == "greenlets":
        return f"{workers}, greenlets"
    if kind == "thread per connection":
        return f"{workers}, a thread per connection"
    return f"{workers} × {plural(max(cell.threads, 1), 'thread')}"


def keep_alive(run: Run, cell: Cell) -> bool | None:
    """Whether the configuration keeps connections alive (None: the document does not say).

    Measured facts first: the keep-alive probe of ``meta.probes``, then a verification warning
    ("no keep-alive"); then the configuration's own model ("..., keep-alive").
    """
    for result in ((run.meta.get("probes") or {}).get(cell.server) or []):
        if result.get("probe") == "keep-alive" and result.get("outcome") in ("ok", "differs"):
            return result["outcome"] == "ok"
    if any("no keep-alive" in w.lower() for w in (cell.verification or {}).get("warnings") or []):
        return False
    model = (cell.server_model or "").lower()
    if "no keep-alive" in model:
        return False
    return True if "keep-alive" in model else None


def noise_view(run: Run) -> dict:
    """The run's noise floor (``meta.noise_floor``: the A/A pair) and the seed of its round order."""
    meta = run.meta
    options = meta.get("options") or {}
    floor = meta.get("noise_floor")
    seed = options.get("seed")
    shuffled = rounds(run) > 1
    view = {"measured": False, "seed": seed, "shuffled": shuffled, "reason": "", "pair": [], "advise_repeat": not shuffled,
            "between_runs": f"{BETWEEN_RUNS_PCT:g}", "close": f"{CLOSE_WITHOUT_FLOOR_PCT:g}"}
    twins = [cell for cell in run.cells if cell.aa_twin]
    if floor:
        twin = next((c for c in twins if c.ok and (c.server, c.scenario, c.users) ==
                     (floor.get("server"), floor.get("scenario"), floor.get("users"))), None)
        original = None
        if twin is not None:
            original = next((c for c in contest_cells(run) if c.ok and (c.server, c.scenario, c.users, c.workers,
                             c.threads) == (twin.server, twin.scenario, twin.users, twin.workers, twin.threads)), None)
        label = config_label(run, twin) if twin is not None else floor.get("server") or MISSING
        view.update(measured=True, where=where(run, floor.get("scenario") or MISSING, floor.get("users")),
                    users=format_users(floor["users"]) if floor.get("users") else MISSING, server=label,
                    rps=format_share(floor.get("rps_diff_pct")), p99=format_share(floor.get("p99_diff_pct")),
                    cpu=format_share(floor.get("cpu_us_per_request_diff_pct")))
        for name, cell in (("first measurement", original), ("A/A twin", twin)):
            if cell is not None:
                view["pair"].append({"name": name, "rps": format_rps(cell.rps),
                                     "p99": format_ms((cell.latency_ms or {}).get("p99")),
                                     "cpu_us": format_us(cell.cpu_us_per_request)})
        if view["pair"]:
            view["pair"].append({"name": "difference (% of their mean)", "rps": view["rps"], "p99": view["p99"],
                                 "cpu_us": view["cpu"]})
        return view
    failed = [c for c in twins if not c.ok]
    if failed:
        view["reason"] = (f"The A/A twin ({failed[0].scenario} / {config_label(run, failed[0])}) failed "
                          f"({failed[0].error or 'no reason recorded'}), so no cell was measured twice.")
    elif twins:
        view["reason"] = "The A/A twin has no counterpart to compare with, so no cell was measured twice."
    elif shuffled:
        view["reason"] = ("This run has no A/A twin (it was recorded before the lab measured one), so no cell "
                          "was measured twice.")
    elif run.cells:
        view["reason"] = "Each cell was measured once (one round), so no cell was measured twice."
    return view


def littles_view(run: Run) -> dict | None:
    """Little's law over the closed-loop cells: who kept fewer or more requests in flight than users."""
    cells = [c for c in _ordered(run, [c for c in contest_cells(run) if c.ok])
             if c.concurrency is not None or c.littles_law_gap_pct is not None]
    if not cells:
        return None
    closed = [c for c in cells if not c.rate]
    flagged = []
    for cell in closed:
        flag = littles_law_flag(cell)
        if flag is None:
            continue
        if flag == "negative":
            why = ("users spent time outside requests the client measured: in the load generator itself "
                   "(scheduling, answer checks), typical when the generator is saturated")
            saturated = "saturated" if cell.generator_bound else "below the generator-bound threshold"
            why += f"; generator CPU here {format_generator_cpu(cell)} % ({saturated})"
        else:
            why = ("latency was measured over longer than the requests were in flight (e.g. connection "
                   "setup counted, coordinated waits): check this cell")
        flagged.append({"scenario": where(run, cell.scenario, cell.users), "server": config_label(run, cell),
                        "concurrency": format_number(cell.concurrency), "users": format_users(cell.users),
                        "gap": format_signed_pct(cell.littles_law_gap_pct), "direction": flag, "why": why})
    return {"tolerance": f"{LITTLES_LAW_TOLERANCE_PCT:g}", "checked": len(closed), "flagged": flagged,
            "rate_cells": len(cells) - len(closed)}


def efficiency_view(run: Run, scenario: str, users: int | None, limits: Limits, close: Closeness) -> dict | None:
    """The generator-bound cells of one table, ranked by server CPU µs per request (lower is
    better) instead of rps, which only shows what the generator could send."""
    if not has_resources(run):
        return None
    bound = [c for c in contest_cells(run) if c.scenario == scenario and (users is None or c.users == users)
             and limits.lower_bound(c)]
    if not bound:
        return None
    measured = sorted((c for c in bound if c.cpu_us_per_request), key=lambda c: c.cpu_us_per_request)
    unmeasured = [c for c in bound if not c.cpu_us_per_request]
    rows = [{"rank": rank, "server": config_label(run, c), "cpu_us": format_us(c.cpu_us_per_request),
             "rps": format_rps(c.rps, lower_bound=True), "server_cpu": format_pct(c.server_cpu_pct)}
            for rank, c in enumerate(measured, 1)]
    rows += [{"rank": None, "server": config_label(run, c), "cpu_us": MISSING, "rps": format_rps(c.rps, True),
              "server_cpu": format_pct(c.server_cpu_pct)} for c in unmeasured]
    verdict = "No generator-bound cell here has a CPU-per-request figure."
    if len(measured) == 1:
        verdict = (f"Only {config_label(run, measured[0])} has a figure here "
                   f"({format_us(measured[0].cpu_us_per_request)} µs per request): nothing to rank it against.")
    elif measured:
        chosen = pick([(config_label(run, c), c.cpu_us_per_request, c) for c in measured], False, "cpu", close)
        if chosen.tied:
            verdict = f"no clear winner: {names([t[0] for t in chosen.tied])} are {close.phrase('cpu')}."
        else:
            best, runner = chosen.best, chosen.runner_up
            verdict = (f"{best[0]} used the least server CPU per request: {format_us(best[1])} µs, against "
                       f"{format_us(runner[1])} µs for {runner[0]} ({format_signed_pct((runner[1] - best[1]) / best[1] * 100)}).")
    return {"rows": rows, "verdict": verdict}


def _best_per_config(run: Run, cells: list[Cell], key) -> dict[str, Cell]:
    """Per configuration label, the cell that maximises ``key``."""
    out: dict[str, Cell] = {}
    for cell in cells:
        label = config_label(run, cell)
        if label not in out or key(cell) > key(out[label]):
            out[label] = cell
    return out


def _with(cell: Cell) -> str:
    """ "2 workers × 8 threads, 32 users" for a line of figures."""
    return f"{format_settings(cell)}, {format_users(cell.users)}"


def throughput_line(run: Run, cells: list[Cell], limits: Limits, close: Closeness) -> dict:
    """(a) The best configuration by rps among server-bound cells, or why none can be named."""
    title = "Throughput (server-bound cells)"
    if all(c.rate for c in cells):
        return {"title": title, "lead": "", "text": "fixed-rate load: throughput is set by the offered rate, so it is not "
                "compared here; compare latency below.", "notes": []}
    server_bound = [c for c in cells if not limits.lower_bound(c) and c.limit == "server" and not c.rate and c.rps]
    lower = [c for c in cells if limits.lower_bound(c)]
    notes = []
    see_cpu = any(c.cpu_us_per_request is not None for c in cells)
    if not server_bound:
        return {"title": title, "lead": "", "text": "no server-bound cell: every measured rps here is a lower bound (the "
                "generator was the limit), so no throughput winner can be named"
                + ("; see CPU per request." if see_cpu else "."), "notes": []}
    best_cells = _best_per_config(run, server_bound, lambda c: c.rps)
    chosen = pick([(label, c.rps, c) for label, c in best_cells.items()], True, "rps", close)
    best_label, best_rps, best = chosen.best
    if chosen.tied:
        lead = "no clear winner"
        text = (f": {names([t[0] for t in chosen.tied])} are {close.phrase('rps')}: "
                + "; ".join(f"{label} {format_rps(rps)} rps ({_with(c)})" for label, rps, c in chosen.tied) + ".")
    else:
        lead = best_label
        text = f": {format_rps(best_rps)} rps ({_with(best)})"
        if chosen.runner_up:
            label, rps, c = chosen.runner_up
            text += (f"; runner-up {label}: {format_rps(rps)} rps ({_with(c)}, "
                     f"{format_signed_pct((rps - best_rps) / best_rps * 100)}).")
        else:
            text += "; the only configuration with a server-bound cell."
    if noisy(best):
        notes.append(f"{best_label}'s rps varied over its rounds {format_range(rps_spread(best))}: noisy.")
    if best.failures:
        notes.append(f"{best_label} had failed requests there: {format_failures(best.failures, best.requests)}.")
    faster = [c for c in lower if c.rps is not None and c.rps > best_rps]
    if faster:
        top = max(faster, key=lambda c: c.rps)
        labels = _unique(config_label(run, c) for c in faster)
        one = len(labels) == 1
        notes.append(f"{names(labels)} {'was' if one else 'were'} generator-bound at more rps than that (up to "
                     f"{format_rps(top.rps, True)}): {'its' if one else 'their'} capacity is at least that, so "
                     f"{'it' if one else 'they'} may be faster than {best_label}"
                     + ("; compare by CPU per request." if see_cpu else "."))
    unranked = sorted(set(config_label(run, c) for c in lower) - set(best_cells) - set(
        config_label(run, c) for c in faster))
    if unranked:
        notes.append(f"Only generator-bound cells for {names(unranked)}: not compared.")
    return {"title": title, "lead": lead, "text": text, "notes": notes}


def latency_line(run: Run, cells: list[Cell], limits: Limits, close: Closeness) -> dict:
    """(b) The best configuration by p99 at a stated share of its own peak rps."""
    share = f"{LATENCY_SHARE * 100:g} %"
    usable = [c for c in cells if c.rps and (c.latency_ms or {}).get("p99")]
    by_config: dict[str, list[Cell]] = {}
    for cell in usable:
        by_config.setdefault(config_label(run, cell), []).append(cell)
    if not by_config:
        return {"title": "Latency (p99)", "lead": "", "text": "no p99 figure in this scenario.", "notes": []}
    one_step = all(len(found) == 1 for found in by_config.values())
    title = ("Latency (p99 at full load: one users step)" if one_step else
             f"Latency (p99 at the busiest step at or below {share} of each configuration's own peak rps)")
    chosen_cells, notes, peaks = {}, [], {}
    for label, found in by_config.items():
        peak = max(found, key=lambda c: c.rps)
        peaks[label] = peak
        if len(found) == 1:
            chosen_cells[label] = found[0]
            continue
        below = [c for c in found if c.rps <= LATENCY_SHARE * peak.rps]
        if below:
            chosen_cells[label] = max(below, key=lambda c: c.rps)
        else:
            lightest = min(found, key=lambda c: c.rps)
            chosen_cells[label] = lightest
            notes.append(f"{label}: no step at or below {share} of its peak; its lightest step is used "
                         f"({format_users(lightest.users)}, {lightest.rps / peak.rps * 100:.0f} % of its peak).")
    chosen = pick([(label, c.latency_ms["p99"], c) for label, c in chosen_cells.items()], False, "p99", close)

    def figures(label: str, p99: float, c: Cell) -> str:
        text = f"p99 {format_ms(p99)} ms with {format_users(c.users)} ({format_rps(c.rps, limits.lower_bound(c))} rps"
        if not one_step:
            peak = peaks[label]
            text += f", {c.rps / peak.rps * 100:.0f} % of its peak {format_rps(peak.rps, limits.lower_bound(peak))} rps"
        return text + ")"

    best_label, best_p99, best = chosen.best
    if chosen.tied:
        lead = "no clear winner"
        text = (f": {names([t[0] for t in chosen.tied])} are {close.phrase('p99')}: "
                + "; ".join(f"{label} {figures(label, p99, c)}" for label, p99, c in chosen.tied) + ".")
    else:
        lead = best_label
        text = f": {figures(best_label, best_p99, best)}"
        if chosen.runner_up:
            label, p99, c = chosen.runner_up
            text += (f"; runner-up {label}: {figures(label, p99, c)}, "
                     f"{format_signed_pct((p99 - best_p99) / best_p99 * 100)}.")
        else:
            text += "; the only configuration with a p99."
    lower = [label for label, c in chosen_cells.items() if limits.lower_bound(c)]
    if lower:
        notes.append(f"Generator-bound at the step used: {names(lower)}; {'its' if len(lower) == 1 else 'their'} "
                     "latency includes the generator's own queuing.")
    lower_peaks = [label for label, c in peaks.items() if limits.lower_bound(c) and label not in lower]
    if lower_peaks and not one_step:
        notes.append(f"The peak of {names(lower_peaks)} is a lower bound (generator-bound), so its share of "
                     "the true peak is smaller than shown.")
    return {"title": title, "lead": lead, "text": text, "notes": notes}


def cpu_line(run: Run, cells: list[Cell], limits: Limits, close: Closeness) -> dict:
    """(c) The best configuration by server CPU µs per request, at each one's highest users step."""
    title = "CPU per request (lower is better)"
    with_cpu = [c for c in cells if c.cpu_us_per_request]
    if not with_cpu:
        return {"title": title, "lead": "", "text": "no CPU-per-request figure in this run.", "notes": []}
    top = _best_per_config(run, with_cpu, lambda c: c.users)
    chosen = pick([(label, c.cpu_us_per_request, c) for label, c in top.items()], False, "cpu", close)

    def figures(c: Cell) -> str:
        return f"{format_us(c.cpu_us_per_request)} µs per request ({_with(c)}, {format_rps(c.rps, limits.lower_bound(c))} rps)"

    best_label, best_us, best = chosen.best
    if chosen.tied:
        lead = "no clear winner"
        text = (f": {names([t[0] for t in chosen.tied])} are {close.phrase('cpu')}: "
                + "; ".join(f"{label} {figures(c)}" for label, _, c in chosen.tied) + ".")
    else:
        lead = best_label
        text = f": {figures(best)}"
        if chosen.runner_up:
            label, us, c = chosen.runner_up
            text += f"; runner-up {label}: {figures(c)}, {format_signed_pct((us - best_us) / best_us * 100)}."
        else:
            text += "; the only configuration with the figure."
    notes = [("Read at each configuration's highest users step. " if is_sweep(run) else "")
             + "Server CPU counts every server process (a pre-fork master too); generator-bound cells count: "
             "CPU per request is measured whichever side was the limit."]
    return {"title": title, "lead": lead, "text": text, "notes": notes}


def _model_rows(run: Run, cells: list[Cell]) -> list[tuple[str, Cell]]:
    """Each configuration's best cell (highest rps) in a scenario, in contender order."""
    best = _best_per_config(run, [c for c in cells if c.rps is not None], lambda c: c.rps)
    return [(c.label, best[c.label]) for c in contenders(run) if c.label in best]


def models_view(run: Run, scenario: str, cells: list[Cell], limits: Limits) -> dict:
    """What the concurrency models mean for this workload, with each configuration's figures."""
    server_cpus = (run.meta.get("cpus") or {}).get("server") or []
    rows, columns_, paragraphs = [], [], []
    best = _model_rows(run, cells)
    if scenario == "io":
        per = 1000 / IO_WAIT_MS
        steps = sorted({c.users for c in cells if c.users})
        caps = ", ".join(f"{format_users(u)}: {format_rps(u * per)} rps" for u in steps)
        paragraphs.append(
            f"A worker that serves one request at a time holds it through the {IO_WAIT_MS} ms wait, so one such "
            f"worker cannot exceed 1000 / {IO_WAIT_MS} = {per:g} rps: the bound is (requests served at once) × "
            f"{per:g} rps, i.e. workers × threads × 1000 / {IO_WAIT_MS} for process and thread models. Threads "
            f"overlap the waits, one wait per thread; greenlets (gevent) yield during the wait, so they have no "
            f"such bound and are limited by other things (CPU, connections, the load).")
        paragraphs.append(f"The load caps everyone too: in a closed loop each user waits for its answer, so "
                          f"users × {per:g} is the most they can ask for ({caps}).")
        columns_ = ["Configuration", "concurrency model", "served at once", "bound rps", "best rps", "users",
                    "load's cap", "of bound"]
        for label, c in best:
            slots = served_at_once(c)
            kind = concurrency_kind(c)
            model = {"greenlets": "greenlets: a waiting request yields",
                     "thread per connection": "a thread per connection"}.get(
                kind, "threads, one request each" if c.threads > 1 else "processes, one request each")
            bound = slots * per if slots else None
            rows.append([label, model,
                         f"{format_settings(c)} = {slots}" if slots and kind == "slots" else (
                             f"{slots} (one per user)" if slots else "no fixed number"),
                         format_rps(bound) if bound else "none (other limits)",
                         format_rps(c.rps, limits.lower_bound(c)), str(c.users), format_rps(c.users * per),
                         f"{c.rps / bound * 100:.0f} %" if bound else MISSING])
    elif scenario == "cpu":
        paragraphs.append(
            "Python threads of one process take turns on one core for Python code (the GIL), so threads add no "
            "throughput here; only worker processes, on more cores, do, and greenlets do not yield during CPU "
            f"work. The server was allowed {plural(len(server_cpus), 'CPU') if server_cpus else 'an unrecorded number of CPUs'}"
            f"{' (' + format_cpus(server_cpus) + ')' if server_cpus else ''}: server CPU % shows how many cores each "
            "configuration kept busy (100 % = one core).")
        columns_ = ["Configuration", "worker processes", "best rps", "users", "server CPU %", "CPU µs / request"]
        for label, c in best:
            rows.append([label, str(max(c.workers, 1)), format_rps(c.rps, limits.lower_bound(c)), str(c.users),
                         format_pct(c.server_cpu_pct), format_us(c.cpu_us_per_request)])
    elif scenario in BODY_KB:
        kb = BODY_KB[scenario]
        way = "written to" if scenario == "large" else "read from"
        paragraphs.append(
            f"Each request moves {kb} KiB, so rps × {kb} KiB is the data rate. A sync worker is held until the "
            f"whole body is {way} the socket; threads and greenlets serve other requests meanwhile. On loopback "
            "the copy itself is cheap, so CPU per request is where configurations differ.")
        columns_ = ["Configuration", "best rps", "MB/s", "users", "server CPU %", "CPU µs / request"]
        for label, c in best:
            rows.append([label, format_rps(c.rps, limits.lower_bound(c)), f"{c.rps * kb / 1024:,.1f}", str(c.users),
                         format_pct(c.server_cpu_pct), format_us(c.cpu_us_per_request)])
    else:
        without = _unique(label for label, c in best if keep_alive(run, c) is False)
        text = ("Each request does little work in the app, so these figures measure each server's own overhead: "
                "HTTP parsing, the WSGI call, the connection.")
        if without:
            text += f" {names(without)} {'opens' if len(without) == 1 else 'open'} a new TCP connection per request (no keep-alive)."
        lower = [c for c in cells if limits.lower_bound(c)]
        if lower:
            text += (f" This is where the load generator is most often the limit: {len(lower)} of {len(cells)} "
                     f"cells here {'was' if len(lower) == 1 else 'were'} generator-bound"
                     + (", so compare them by CPU per request." if has_resources(run) else
                        ": their rps only shows what the generator could send."))
        paragraphs.append(text)
    return {"paragraphs": paragraphs, "columns": columns_, "rows": rows}


def workload_views(run: Run, limits: Limits, close: Closeness) -> list[dict]:
    """"Which server for which workload": per scenario, the three lines and what the models mean."""
    out = []
    for scenario in scenario_order(run):
        cells = [c for c in contest_cells(run) if c.scenario == scenario and c.ok and c.rps is not None]
        view = {"name": scenario, "about": SCENARIO_ABOUT.get(scenario, ""), "lines": [], "models": None}
        if not cells:
            view["lines"] = [{"title": "No figures", "lead": "", "text": "no cell of this scenario was measured.",
                              "notes": []}]
        else:
            view["lines"] = [throughput_line(run, cells, limits, close), latency_line(run, cells, limits, close),
                             cpu_line(run, cells, limits, close)]
            view["models"] = models_view(run, scenario, cells, limits)
        out.append(view)
    return out


def probe_view(run: Run) -> dict | None:
    """The conformance probe matrix (``meta.probes``): rows probes, columns servers."""
    probes = run.meta.get("probes")
    if not probes:
        return None
    servers = list(probes)
    order = _unique(result.get("probe") for results in probes.values() for result in results or [])
    rows = []
    for probe in order:
        cells = []
        for server in servers:
            found = next((r for r in probes[server] or [] if r.get("probe") == probe), None)
            if found is None:
                cells.append({"server": server, "outcome": "missing", "summary": MISSING, "detail": "", "mark": ""})
                continue
            outcome = found.get("outcome") or "error"
            cells.append({"server": server, "outcome": outcome, "summary": found.get("summary") or MISSING,
                          "detail": found.get("detail") or "", "mark": "" if outcome == "ok" else outcome})
        rows.append({"probe": probe, "meaning": PROBE_MEANING.get(probe, ""), "cells": cells})
    counts = {server: {outcome: sum(1 for r in probes[server] or [] if r.get("outcome") == outcome)
                       for outcome, _ in PROBE_OUTCOMES} for server in servers}
    totals = [{"server": server, "text": ", ".join(f"{n} {outcome}" for outcome, n in counts[server].items() if n)}
              for server in servers]
    return {"servers": servers, "rows": rows, "outcomes": PROBE_OUTCOMES, "totals": totals}


def status_text(run: Run) -> tuple[str, str]:
    """The run's status and, unless it completed, a plain sentence on what the report is missing."""
    status = run.meta.get("status") or "unknown"
    if status == "complete":
        return status, ""
    if probes_only(run):
        return status, (f"This run did not complete (status \"{status}\"): only the probes recorded are shown, "
                        "and a server without a result for a probe shows \"—\".")
    options = run.meta.get("options") or {}
    steps = len(users_steps(run)) or 1
    planned = len(options.get("servers") or []) * len(options.get("scenarios") or []) * steps
    shape = "server × scenario × users" if steps > 1 else "server × scenario"
    of = f" of {planned} planned {shape} cells" if planned else ""
    if status == "interrupted":
        return status, (
            f"This run was interrupted before it finished: only the {len(run.cells)} cells that "
            f"finished{of} are shown, and servers or scenarios it never reached are marked \"not run\"."
        )
    return status, (
        f"This run did not complete (status \"{status}\"): only the {len(run.cells)} cells recorded"
        f"{of} are shown."
    )


def container_rows(containers: dict) -> list[dict]:
    """Each container's image and limits, as recorded by a container run (empty for local runs)."""
    return [{"service": service, "image": f"{c.get('image') or MISSING} ({(c.get('image_id') or '')[7:19]})",
             "cpuset": c.get("cpuset") or MISSING, "cpus": format_value(c.get("cpus")),
             "memory": format_mb(c.get("memory_mb")), "command": format_command(c.get("command") or [])}
            for service, c in sorted(containers.items())]


def context(run: Run) -> dict:
    """The template context shared by both reports (the HTML one adds its charts)."""
    meta = run.meta
    status, status_note = status_text(run)
    python = meta.get("python") or {}
    cpus = meta.get("cpus") or {}
    options = meta.get("options") or {}
    limits = Limits(run)
    close = Closeness(meta.get("noise_floor"))
    only_probes = probes_only(run)
    return {
        "run_id": meta.get("run_id") or "unknown",
        "status": status,
        "status_note": status_note,
        "revision": format_revision(meta.get("lab")),
        "started_at": meta.get("started_at") or MISSING,
        "finished_at": meta.get("finished_at") or MISSING,
        "environment": meta.get("environment") or MISSING,
        "host": format_host(meta.get("host")),
        "host_platform": (meta.get("host") or {}).get("platform") or MISSING,
        "host_kernel": (meta.get("host") or {}).get("kernel") or MISSING,
        "server_cpus": format_cpus(cpus.get("server")),
        "generator_cpus": format_cpus(cpus.get("generator")),
        "threshold": f"{threshold(run):g}",
        "options": [(key, format_value(value)) for key, value in options.items()],
        "caveats": caveats(run, limits),
        "scenarios": [] if only_probes else [scenario_view(run, s, limits, close) for s in scenario_order(run)],
        "probes_only": only_probes,
        "swept": is_swept(run),
        "noise": noise_view(run),
        "littles": littles_view(run),
        "workloads": [] if only_probes else workload_views(run, limits, close),
        "probes": probe_view(run),
        "sweep": is_sweep(run),
        "rounds": rounds(run),
        "warmup": format_value(options.get("warmup")),
        "columns": columns(run),
        "knee_rule": knee_rule(),
        "ceiling_share": f"{CEILING_SHARE * 100:g}",
        "noisy_cv": f"{NOISY_CV_PCT:g}",
        "servers": server_rows(run),
        "python": [
            ("version", python.get("version") or MISSING),
            ("implementation", python.get("implementation") or MISSING),
            ("executable", python.get("executable") or MISSING),
        ],
        "packages": [(name, format_value(version)) for name, version in sorted((meta.get("packages") or {}).items(), key=lambda kv: kv[0].lower())],
        "containers": container_rows(meta.get("containers") or {}),
        "percentiles": [title for _, title in PERCENTILES],
        "counts": {
            "cells": len(run.cells),
            "ok": sum(1 for c in run.cells if c.ok),
            "failed": sum(1 for c in run.cells if not c.ok),
            "twins": sum(1 for c in run.cells if c.aa_twin),
        },
    }


# --------------------------------------------------------------------------------------------
# Charts: matplotlib figures rendered to inline SVG.
# --------------------------------------------------------------------------------------------

#: Hatch drawn on generator-bound bars, the visual twin of "≥" in the tables.
LOWER_BOUND_HATCH = "///"
SERVER_COLORS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#332288",
                 "#117733", "#882255", "#999933", "#44aa99")
PERCENTILE_COLORS = ("#c6dbef", "#6baed6", "#2171b5", "#08519c", "#08306b")
CEILING_COLOR = "#777777"


def server_colors(run: Run) -> dict[str, str]:
    """One fixed colour per configuration, so it looks the same in every chart of the report."""
    return {c.label: SERVER_COLORS[i % len(SERVER_COLORS)] for i, c in enumerate(contenders(run))}


def svg_from_figure(fig: Figure, salt: str, label: str) -> str:
    """Serialise a figure as an inline ``<svg>`` element.

    Text stays text (``svg.fonttype: none``) so no glyph definitions are repeated across charts;
    the hash salt makes clip-path ids unique per chart yet stable between renders; the date and
    the RDF ``<metadata>`` block (which names outside URLs) are dropped along with the XML prologue,
    which is not allowed inside HTML.
    """
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    label = markupsafe.escape(label)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def _gap(ax, x: float, text: str) -> None:
    """Write why a server has no bar where its bar would be, near the axis, never as a 0 bar."""
    ax.text(x, 0.03, text, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
            fontsize=9, style="italic", color="#555555")


def _bar_size(entries: list[Entry]) -> tuple[float, float]:
    """A bar chart's size: wider when many configurations share it."""
    return (6.4, 3.8) if len(entries) <= 4 else (7.6, 4.2)


def _tick_font(ax, entries: list[Entry]) -> None:
    if len(entries) > 4:
        ax.tick_params(axis="x", labelsize=8)


def _tick_label(entry: Entry, limits: Limits) -> str:
    cell = entry.cell
    label = entry.server.replace(" ", "\n", 1)  # "gunicorn:gthread\n2w×8t": a configuration on two lines
    if cell is not None and limits.lower_bound(cell):
        label += "\n(generator-bound)"
    if cell is not None and cell.ok and cell.wrk_rps is not None:
        label += f"\nwrk peak {format_rps(cell.wrk_rps)}"
    return label


def _log_scale(values: list[float]) -> bool:
    """A log axis when the values span more than 20×, e.g. locust's rps next to wrk's peak."""
    positive = [v for v in values if v is not None and v > 0 and not math.isnan(v)]
    return bool(positive) and max(positive) / min(positive) > 20


def _thousands(value, _pos=None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def chart_rps(run: Run, scenario: str, users: int | None = None, limits: Limits | None = None) -> str:
    """Throughput per server for one scenario at one users step (the highest by default).

    Server-bound bars are solid; generator-bound bars (CPU-saturated or at the generator's
    ceiling) are hatched and labelled "≥ … lower bound" because the server may well be faster;
    failed, unavailable or unrun servers get a labelled gap instead of a zero-height bar.  The
    generator's ceiling, where there is one, is a dotted line; the wrk peak is named under each
    server it was measured for.
    """
    limits = limits or Limits(run)
    users = top_step(run, scenario) if users is None else users
    entries = scenario_entries(run, scenario, users)
    colors = server_colors(run)
    ceiling = limits.ceilings.get((scenario, users))
    fig = Figure(figsize=_bar_size(entries), layout="constrained")
    ax = fig.add_subplot()
    bounds = io_bounds(run, scenario, entries)
    cap = users * 1000 / IO_WAIT_MS if bounds and users else None
    top = max([e.cell.rps for e in entries if e.measured] + ([ceiling.rps] if ceiling else []) + list(bounds.values())
              + ([cap] if cap else []), default=1.0) or 1.0
    any_lower = False
    for x, entry in enumerate(entries):
        if not entry.measured:
            _gap(ax, x, entry.gap_label)
            continue
        cell = entry.cell
        bound = limits.lower_bound(cell)
        any_lower |= bound
        ax.bar(x, cell.rps, width=0.6, color=colors[entry.server] if not bound else "white",
               edgecolor=colors[entry.server], hatch=LOWER_BOUND_HATCH if bound else None, linewidth=1.5)
        label = format_rps(cell.rps, lower_bound=bound) + ("\nlower bound" if bound else "")
        ax.annotate(label, (x, cell.rps), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9)
    if ceiling:
        ax.axhline(ceiling.rps, color=CEILING_COLOR, linestyle=":", linewidth=1.2)
        ax.annotate(f"generator ceiling {format_rps(ceiling.rps)}", (1, ceiling.rps), xytext=(-2, 2),
                    textcoords="offset points", xycoords=("axes fraction", "data"), ha="right",
                    fontsize=8, color="#555555")
    for x, bound in bounds.items():  # io: what one request at a time per worker thread allows
        ax.hlines(bound, x - 0.38, x + 0.38, colors="#222222", linestyles="--", linewidth=1.4, zorder=3)
        ax.annotate(f"bound {format_rps(bound)}", (x, bound), xytext=(0, -3), textcoords="offset points",
                    ha="center", va="top", fontsize=7, color="#222222", zorder=4,
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    if cap:
        ax.axhline(cap, color="#aa3377", linestyle=":", linewidth=1.2)
        ax.annotate(f"load's cap: {format_users(users)} × {1000 / IO_WAIT_MS:g} = {format_rps(cap)} rps", (0, cap),
                    xytext=(2, 2), textcoords="offset points", xycoords=("axes fraction", "data"), fontsize=8,
                    color="#aa3377")
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e, limits) for e in entries])
    _tick_font(ax, entries)
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylim(0, top * 1.22)  # room for the value labels above the bars
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_ylabel("requests / s (locust)")
    ax.set_title(f"{where(run, scenario, users)}: throughput")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(facecolor="#888888", edgecolor="#888888", label="server-bound")]
    if any_lower:
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch=LOWER_BOUND_HATCH,
                             label="generator-bound: ≥ lower bound"))
    if ceiling:
        handles.append(Line2D([], [], color=CEILING_COLOR, linestyle=":", label="generator ceiling"))
    if bounds:
        handles.append(Line2D([], [], color="#222222", linestyle="--",
                              label=f"bound: served at once × 1000 / {IO_WAIT_MS} ms"))
        handles.append(Line2D([], [], color="#aa3377", linestyle=":", label="load's cap: users × 1000 / "
                              f"{IO_WAIT_MS} ms"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"rps-{scenario}-{users}",
                           f"{where(run, scenario, users)}: requests per second by server")


def chart_latency(run: Run, scenario: str, users: int | None = None, limits: Limits | None = None) -> str:
    """Latency percentiles per server for one scenario at one users step, grouped bars on a log axis.

    A log axis keeps p50 (often sub-millisecond) and p99.99 (often tens of ms) readable on one chart.
    Generator-bound servers are hatched: their latencies include the generator's own queuing.
    """
    limits = limits or Limits(run)
    users = top_step(run, scenario) if users is None else users
    entries = scenario_entries(run, scenario, users)
    fig = Figure(figsize=_bar_size(entries), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(PERCENTILES)
    drawn: list[float] = []
    for x, entry in enumerate(entries):
        latency = (entry.cell.latency_ms or {}) if entry.measured else {}
        values = [latency.get(key) for key, _ in PERCENTILES]
        if not any(v is not None and v > 0 for v in values):
            _gap(ax, x, entry.gap_label if not entry.measured else "no latency")
            continue
        bound = limits.lower_bound(entry.cell)
        for i, value in enumerate(values):
            if value is None or value <= 0:
                continue
            ax.bar(x - 0.4 + width * (i + 0.5), value, width=width, color=PERCENTILE_COLORS[i],
                   edgecolor="#333333" if bound else PERCENTILE_COLORS[i],
                   hatch=LOWER_BOUND_HATCH if bound else None, linewidth=0.6)
            drawn.append(value)
    if drawn:
        # Bars grow from a whole decade at least 2x below the smallest value, so the shortest bar
        # still has a visible height; ticks read as plain numbers (0.1, 1, 10), not powers of ten.
        ax.set_yscale("log")
        ax.set_ylim(10 ** math.floor(math.log10(min(drawn) / 2)), max(drawn) * 2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e, limits).split("\nwrk")[0] for e in entries])
    _tick_font(ax, entries)
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylabel("latency, ms (log scale)")
    ax.set_title(f"{where(run, scenario, users)}: latency percentiles")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(color=color, label=title) for color, (_, title) in zip(PERCENTILE_COLORS, PERCENTILES)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"latency-{scenario}-{users}",
                           f"{where(run, scenario, users)}: latency percentiles by server")


def io_bounds(run: Run, scenario: str, entries: list[Entry]) -> dict[int, float]:
    """In the ``io`` scenario: per bar position, the configuration's bound (requests it serves at
    once × 1000 / IO_WAIT_MS rps); greenlet configurations have none."""
    if scenario != "io":
        return {}
    out = {}
    for x, entry in enumerate(entries):
        if entry.measured and served_at_once(entry.cell):
            out[x] = served_at_once(entry.cell) * 1000 / IO_WAIT_MS
    return out


def chart_cpu_per_request(run: Run, scenario: str, users: int | None = None,
                          limits: Limits | None = None) -> str | None:
    """Server CPU µs per request per configuration at one users step (the highest by default):
    lower is better, and unlike rps it compares configurations even when the generator was the
    limit.  None when no cell of the step has the figure."""
    limits = limits or Limits(run)
    users = top_step(run, scenario) if users is None else users
    entries = scenario_entries(run, scenario, users)
    if not any(e.measured and e.cell.cpu_us_per_request is not None for e in entries):
        return None
    colors = server_colors(run)
    fig = Figure(figsize=_bar_size(entries), layout="constrained")
    ax = fig.add_subplot()
    values = []
    for x, entry in enumerate(entries):
        cell = entry.cell
        if not entry.measured or cell.cpu_us_per_request is None:
            _gap(ax, x, entry.gap_label if not entry.measured else "no figure")
            continue
        ax.bar(x, cell.cpu_us_per_request, width=0.6, color=colors[entry.server], edgecolor=colors[entry.server],
               linewidth=1.5)
        ax.annotate(format_us(cell.cpu_us_per_request), (x, cell.cpu_us_per_request), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom", fontsize=9)
        values.append(cell.cpu_us_per_request)
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e, limits).split("\nwrk")[0] for e in entries])
    _tick_font(ax, entries)
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylim(0, max(values) * 1.2)
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_ylabel("server CPU µs per request")
    ax.set_title(f"{where(run, scenario, users)}: server CPU per request (lower is better)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return svg_from_figure(fig, f"cpu-{scenario}-{users}",
                           f"{where(run, scenario, users)}: server CPU per request by server")


def _sweep_cells(run: Run, scenario: str) -> dict[str, dict[int, Cell]]:
    """Per server (in run order), its cells of one scenario by users step."""
    out: dict[str, dict[int, Cell]] = {}
    for server in [contender.label for contender in contenders(run)]:
        cells = {c.users: c for c in contest_cells(run)
                 if c.scenario == scenario and config_label(run, c) == server and c.users}
        if cells:
            out[server] = dict(sorted(cells.items()))
    return out


def _sweep_throughputs(run: Run, scenario: str) -> list[float]:
    return [value for cells in _sweep_cells(run, scenario).values() for c in cells.values() if c.ok
            for value in (c.rps, c.wrk_rps) if value is not None]


def _knee_users(run: Run, scenario: str, server: str) -> int | None:
    steps = knee_steps(run, scenario, server)
    found = knee(steps) if len(steps) >= 2 else None
    return found["users"] if found else None


def _point(ax, x: float, y: float, color: str, lower: bool, size: float = 6.5) -> None:
    """A measured point: filled when server-bound, hollow when the generator was the limit."""
    ax.plot([x], [y], marker="o", markersize=size, color=color, markerfacecolor="white" if lower else color,
            markeredgewidth=1.5, linestyle="none", zorder=3)


def _ring(ax, x: float, y: float, color: str) -> None:
    """The knee: a large ring around the point, labelled."""
    ax.plot([x], [y], marker="o", markersize=17, markerfacecolor="none", markeredgecolor=color,
            markeredgewidth=1.6, linestyle="none", zorder=4)
    ax.annotate("knee", (x, y), xytext=(9, -12), textcoords="offset points", fontsize=8, color=color,
                fontweight="bold")


def _sweep_legend(fig, run: Run, servers: list[str], styles: list[Line2D]) -> None:
    colors = server_colors(run)
    handles = [Line2D([], [], color=colors[s], linewidth=2, label=s) for s in servers] + styles
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8, frameon=False)


def chart_sweep_throughput(run: Run, scenario: str, limits: Limits | None = None) -> str | None:
    """Throughput against users for one scenario, one line per server; None for a single step.

    Locust's rps is solid (hollow points: the generator was the limit), wrk's peak dashed, the
    generator's ceiling dotted grey, each server's knee ringed.  The users axis doubles per step
    (log 2); the rps axis turns logarithmic when wrk's peak dwarfs locust's figures.
    """
    limits = limits or Limits(run)
    steps = users_steps(run)
    if len(steps) < 2:
        return None
    colors = server_colors(run)
    sweep = _sweep_cells(run, scenario)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    log = _log_scale(_sweep_throughputs(run, scenario))
    any_wrk = any_lower = any_knee = False
    failed_rows = 0
    for server, cells in sweep.items():
        color = colors[server]
        xs = list(cells)
        ys = [c.rps if c.ok and c.rps is not None else math.nan for c in cells.values()]
        ax.plot(xs, ys, color=color, linewidth=1.8, zorder=2)
        for users, cell in cells.items():
            if cell.ok and cell.rps is not None:
                lower = limits.lower_bound(cell)
                any_lower |= lower
                _point(ax, users, cell.rps, color, lower)
        wrk = [c.wrk_rps if c.ok and c.wrk_rps is not None else math.nan for c in cells.values()]
        if any(not math.isnan(w) for w in wrk):
            any_wrk = True
            ax.plot(xs, wrk, color=color, linestyle="--", linewidth=1.4, marker="D", markersize=4, zorder=2)
        knee_at = _knee_users(run, scenario, server)
        if knee_at is not None:
            any_knee = True
            _ring(ax, knee_at, cells[knee_at].rps, color)
        failed = [users for users, cell in cells.items() if not cell.ok]
        if failed:
            for users in failed:
                ax.annotate(f"{server} failed", (users, 0.02 + 0.06 * failed_rows), xycoords=("data", "axes fraction"),
                            ha="center", fontsize=8, style="italic", color=color)
            failed_rows += 1
    ceilings = [(u, limits.ceilings[(scenario, u)].rps) for u in steps if (scenario, u) in limits.ceilings]
    if ceilings:  # a wide grey band: it runs under the line of the server it was taken from
        ax.plot(*zip(*ceilings), color=CEILING_COLOR, linewidth=7, alpha=0.3, solid_capstyle="round", zorder=1)
    ax.set_xscale("log", base=2)
    ax.set_xticks(steps, labels=[str(u) for u in steps])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(steps[0] / 1.4, steps[-1] * 1.4)
    if log:
        values = _sweep_throughputs(run, scenario)
        ax.set_yscale("log")
        ax.set_ylim(10 ** math.floor(math.log10(min(values) / 1.2)), max(values) * 1.6)
        ax.set_ylabel("requests / s (log scale)")
    else:
        ax.set_ylim(bottom=0, top=max(_sweep_throughputs(run, scenario) or [1]) * 1.12)
        ax.set_ylabel("requests / s")
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("concurrent users (connections)")
    ax.set_title(f"{scenario}: throughput by concurrency")
    ax.grid(alpha=0.3, which="major")
    ax.set_axisbelow(True)
    styles = [Line2D([], [], color="#555555", marker="o", label="locust rps")]
    if any_wrk:
        styles.append(Line2D([], [], color="#555555", linestyle="--", marker="D", markersize=4, label="wrk peak rps"))
    if any_lower:
        styles.append(Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none",
                             label="hollow: generator-bound (≥)"))
    if ceilings:
        styles.append(Line2D([], [], color=CEILING_COLOR, linewidth=7, alpha=0.3, label="generator ceiling"))
    if any_knee:
        styles.append(Line2D([], [], color="#555555", marker="o", markersize=11, markerfacecolor="none",
                             linestyle="none", label="knee"))
    _sweep_legend(fig, run, list(sweep), styles)
    return svg_from_figure(fig, f"sweep-rps-{scenario}", f"{scenario}: throughput by concurrent users, per server")


def chart_sweep_latency(run: Run, scenario: str, limits: Limits | None = None) -> str | None:
    """p99 latency against locust's throughput for one scenario, one line per server; None for a
    single step.  Each point is a users step (labelled); the line runs from the fewest users to
    the most.  A line that turns upward is the server saturating: more users, more waiting, no more
    throughput.  The knee is ringed; hollow points are generator-bound."""
    limits = limits or Limits(run)
    steps = users_steps(run)
    if len(steps) < 2:
        return None
    colors = server_colors(run)
    sweep = _sweep_cells(run, scenario)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    drawn: list[float] = []
    any_lower = any_knee = False
    for server, cells in sweep.items():
        color = colors[server]
        points = [(c.users, c.rps, (c.latency_ms or {}).get("p99"), limits.lower_bound(c)) for c in cells.values()
                  if c.ok and c.rps is not None and (c.latency_ms or {}).get("p99")]
        if not points:
            continue
        ax.plot([p[1] for p in points], [p[2] for p in points], color=color, linewidth=1.8, zorder=2)
        for users, rps, p99, lower in points:
            any_lower |= lower
            _point(ax, rps, p99, color, lower)
            ax.annotate(f"{users}u", (rps, p99), xytext=(5, 4), textcoords="offset points", fontsize=7, color="#444444")
            drawn.append(p99)
        knee_at = _knee_users(run, scenario, server)
        if knee_at is not None:
            any_knee = True
            cell = cells[knee_at]
            _ring(ax, cell.rps, cell.latency_ms["p99"], color)
    if drawn:
        ax.set_yscale("log")
        ax.set_ylim(10 ** math.floor(math.log10(min(drawn) / 1.5)), max(drawn) * 2.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.set_xlim(left=0)
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("throughput, requests / s (locust)")
    ax.set_ylabel("p99 latency, ms (log scale)")
    ax.set_title(f"{scenario}: p99 latency against throughput")
    ax.grid(alpha=0.3, which="major")
    ax.set_axisbelow(True)
    styles = [Line2D([], [], color="#555555", marker="o", linestyle="none", label="“8u” = 8 users")]
    if any_lower:
        styles.append(Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none",
                             label="hollow: generator-bound"))
    if any_knee:
        styles.append(Line2D([], [], color="#555555", marker="o", markersize=11, markerfacecolor="none",
                             linestyle="none", label="knee"))
    _sweep_legend(fig, run, list(sweep), styles)
    return svg_from_figure(fig, f"sweep-latency-{scenario}", f"{scenario}: p99 latency against throughput, per server")


def _series(samples: list[dict], key: str) -> tuple[list[float], list[float]]:
    """A sample series with missing points as NaN, so the line breaks instead of dropping to 0."""
    ts = [s.get("t", math.nan) for s in samples]
    values = [s.get(key) for s in samples]
    return ts, [math.nan if v is None else v for v in values]


def chart_timeline(run: Run, scenario: str, users: int | None = None) -> str | None:
    """Server CPU % and RSS over each cell's samples at one users step (the highest by default),
    one line per server; None without samples.

    The generator's CPU is drawn dashed next to the server's, with the generator-bound threshold,
    so a reader can see when the generator rather than the server was saturated.
    """
    users = top_step(run, scenario) if users is None else users
    entries = [e for e in scenario_entries(run, scenario, users) if e.cell is not None and cell_samples(e.cell)]
    if not entries:
        return None
    colors = server_colors(run)
    fig = Figure(figsize=(9.6, 4.4 if len(entries) <= 4 else 5.2), layout="constrained")
    cpu_ax, rss_ax = fig.subplots(1, 2)
    for entry in entries:
        cell = entry.cell
        samples = cell_samples(cell)
        name = entry.server + ("" if cell.ok else " (failed)")
        color = colors[entry.server]
        cpu_ax.plot(*_series(samples, "server_cpu_pct"), color=color, label=f"{name}: server")
        cpu_ax.plot(*_series(samples, "generator_cpu_pct"), color=color, linestyle="--",
                    label=f"{name}: generator")
        rss_ax.plot(*_series(samples, "server_rss_mb"), color=color, label=name)
    cpu_ax.axhline(threshold(run), color="#999999", linestyle=":", linewidth=1)
    cpu_ax.annotate(f"generator-bound at {threshold(run):g} %", (0, threshold(run)), xytext=(2, 2),
                    textcoords="offset points", xycoords=("axes fraction", "data"), fontsize=8, color="#666666")
    cpu_ax.set_ylim(bottom=0)
    cpu_ax.set_xlabel("seconds since cell start")
    cpu_ax.set_ylabel("CPU % (100 = one core)")
    cpu_ax.set_title(f"{where(run, scenario, users)}: CPU (solid server, dashed generator)", fontsize=10)
    rss_ax.set_ylim(bottom=0)
    rss_ax.set_xlabel("seconds since cell start")
    rss_ax.set_ylabel("server RSS, MB")
    rss_ax.set_title(f"{where(run, scenario, users)}: server memory", fontsize=10)
    if len(entries) <= 4:
        cpu_ax.legend(fontsize=7, loc="lower right", frameon=False)
        rss_ax.legend(fontsize=7, loc="lower right", frameon=False)
    else:  # many configurations: one shared legend under both panels, a colour per configuration
        handles = [Line2D([], [], color=colors[e.server], label=e.server + ("" if e.cell.ok else " (failed)"))
                   for e in entries]
        handles += [Line2D([], [], color="#555555", label="solid: server"),
                    Line2D([], [], color="#555555", linestyle="--", label="dashed: generator")]
        fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    for ax in (cpu_ax, rss_ax):
        ax.grid(alpha=0.3)
    return svg_from_figure(fig, f"timeline-{scenario}-{users}",
                           f"{where(run, scenario, users)}: CPU and memory over time by server")


#: The charts of one scenario, in the order the HTML report shows them.
CHART_KINDS = ("sweep_throughput", "sweep_latency", "rps", "latency", "cpu_per_request", "timeline")


def charts(run: Run) -> dict[str, dict[str, markupsafe.Markup | None]]:
    """All charts of the HTML report, per scenario and kind (``CHART_KINDS``), marked safe for the
    autoescaping template; a chart that does not apply (a sweep chart of a single-step run, a
    timeline without samples) is None."""
    limits = Limits(run)
    out = {}
    for scenario in [] if probes_only(run) else scenario_order(run):
        made = {
            "sweep_throughput": chart_sweep_throughput(run, scenario, limits),
            "sweep_latency": chart_sweep_latency(run, scenario, limits),
            "rps": chart_rps(run, scenario, limits=limits),
            "latency": chart_latency(run, scenario, limits=limits),
            "cpu_per_request": chart_cpu_per_request(run, scenario, limits=limits),
            "timeline": chart_timeline(run, scenario),
        }
        out[scenario] = {kind: markupsafe.Markup(svg) if svg else None for kind, svg in made.items()}
    return out


def chart_count(made: dict[str, dict[str, str | None]]) -> int:
    """How many charts ``charts`` made (each is one ``<svg>`` in its own ``<figure>``)."""
    return sum(1 for kinds in made.values() for svg in kinds.values() if svg)


# --------------------------------------------------------------------------------------------
# Rendering and writing.
# --------------------------------------------------------------------------------------------


def _md_flat(value) -> str:
    """One line with pipes escaped: GFM splits table cells on "|" even inside code spans."""
    text = "" if value is None else str(value)
    return text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def md_cell(value) -> str:
    """Text safe inside a Markdown table cell or list item.

    Only a backslash that would escape punctuation is doubled, so ``b'\\r\\n'`` in an error
    message stays as readable in the raw file as in the rendered one.
    """
    text = "" if value is None else str(value)
    text = re.sub(r"\\(?=[!-/:-@\[-`{-~])", r"\\\\", text)
    return _md_flat(text)


def md_code(value) -> str:
    """An inline code span that survives backticks in the text (e.g. in an error message)."""
    text = _md_flat(value)
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def nbsp(value) -> str:
    """A spread "(min–max, CV x %)" that wraps only after its comma: "CV", the figure and "%" stay
    together (no-break spaces; still plain whitespace to any text reader)."""
    return re.sub(r" (?=[\d.]+ %)| (?=%)", "\u00a0", "" if value is None else str(value))


@functools.cache
def _environment(kind: str) -> jinja2.Environment:
    """One Jinja2 environment per output kind; only HTML autoescapes."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=(kind == "html"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md_cell
    env.filters["code"] = md_code
    env.filters["nbsp"] = nbsp
    return env


def render_markdown(run: Run) -> str:
    """The report as Markdown: the tables and caveats, readable in a terminal or a code review."""
    text = _environment("md").get_template("report.md.j2").render(context(run))
    return re.sub(r"\n{3,}", "\n\n", text)


def render_html(run: Run) -> str:
    """The report as one self-contained HTML file: inline CSS and inline SVG charts, no outside URL."""
    return _environment("html").get_template("report.html.j2").render(**context(run), charts=charts(run))


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and a rename, so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(run_dir: Path) -> list[Path]:
    """Render ``results.json`` in ``run_dir`` to ``report.md`` and ``report.html`` beside it."""
    run_dir = Path(run_dir)
    run = load(run_dir)
    outputs = [(run_dir / REPORT_MD, render_markdown(run)), (run_dir / REPORT_HTML, render_html(run))]
    for path, text in outputs:
        _write_atomic(path, text)
    return [path for path, _ in outputs]
