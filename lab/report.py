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
    server: str  # the server with the highest wrk peak at this step
    wrk_rps: float

    @property
    def share_rps(self) -> float:
        """Locust figures at or above this are at the generator's ceiling."""
        return CEILING_SHARE * self.rps


def generator_ceilings(run: Run) -> dict[tuple[str, int], Ceiling]:
    """The generator's ceiling per (scenario, users step), where some ok cell has a wrk peak."""
    groups: dict[tuple[str, int], list[Cell]] = {}
    for cell in run.cells:
        if cell.ok and cell.rps is not None:
            groups.setdefault((cell.scenario, cell.users), []).append(cell)
    out = {}
    for (scenario, users), cells in groups.items():
        locust = {cell.server: cell.rps for cell in cells}
        peaks = {cell.server: cell.wrk_rps for cell in cells if cell.wrk_rps is not None}
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
    """A server's measured steps in a scenario as ``stats.knee`` takes them, lowest users first.

    Only ok cells with both an rps and a p99 take part; a failed step is left out (and named
    beside the knee), never counted as zero.
    """
    steps = []
    for cell in sorted(run.cells, key=lambda c: c.users):
        if cell.scenario != scenario or cell.server != server or not cell.ok or cell.rps is None:
            continue
        p99 = (cell.latency_ms or {}).get("p99")
        if p99 is None:
            continue
        error_pct = (cell.failures or 0) / cell.requests * 100 if cell.requests else 0.0
        steps.append({"users": cell.users, "rps": cell.rps, "p99": p99, "error_pct": error_pct})
    return steps


def knee_rule() -> str:
    """The knee rule in words, with the thresholds ``lab.stats`` applies."""
    return (f"a server's knee is the last users step before its p99 latency rose ×{KNEE_P99_FACTOR:g} "
            f"or more at the next step, or its failed requests reached {KNEE_ERROR_PCT:g} % there")


def sweep_knees(run: Run, scenario: str, limits: Limits | None = None) -> list[dict]:
    """Per server: its figures at every users step and its knee in words (``stats.knee``)."""
    limits = limits or Limits(run)
    steps = users_steps(run)
    rows = []
    for server in server_order(run):
        cells = {c.users: c for c in run.cells if c.scenario == scenario and c.server == server}
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
            if found["p99"] and after["p99"] >= KNEE_P99_FACTOR * found["p99"]:
                reasons.append(f"p99 ×{after['p99'] / found['p99']:.1f} to {format_ms(after['p99'])} ms")
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
    """One server's place in a scenario (at one users step): its cell, or why there is none."""

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
    reached = [cell.users for cell in run.cells if cell.scenario == scenario and cell.users]
    steps = sorted(reached) or users_steps(run)
    return steps[-1] if steps else None


def scenario_entries(run: Run, scenario: str, users: int | None = None) -> list[Entry]:
    """Every server of the run for one scenario (at one users step; the highest by default), so a
    missing cell is visible rather than absent."""
    users = top_step(run, scenario) if users is None else users
    servers_meta = run.meta.get("servers") or {}
    cells = {cell.server: cell for cell in run.cells
             if cell.scenario == scenario and (users is None or cell.users == users or not cell.users)}
    entries = []
    for server in server_order(run):
        if server in cells:
            entries.append(Entry(server, cells[server]))
            continue
        info = servers_meta.get(server) or {}
        if info.get("available") is False:
            entries.append(Entry(server, None, f"unavailable: {info.get('reason') or 'no reason recorded'}"))
        else:
            entries.append(Entry(server, None, "not run"))
    return entries


def columns(run: Run) -> dict[str, bool]:
    """Optional table columns: the offered rate (fixed-rate runs) and the wrk peak (runs that
    recorded a wrk figure or a reason for having none; older documents know nothing of wrk)."""
    return {
        "offered": any(cell.rate for cell in run.cells),
        "wrk": any(cell.wrk_rps is not None or cell.wrk_note for cell in run.cells),
    }


_FIGURE_KEYS = ("rps", "offered", "wrk", "server_cpu", "server_rss", "generator_cpu", "failures", "max")


def _row(entry: Entry, rank: int | None, group: str, limits: Limits) -> dict:
    cell = entry.cell
    if cell is None:
        blank = {key: MISSING for key in _FIGURE_KEYS}
        blank.update({title: MISSING for _, title in PERCENTILES})
        return {"group": group, "rank": None, "server": entry.server, "users": None, "limit": entry.missing,
                "rps_main": MISSING, "rps_range": "", "noisy": False,
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
        "server": cell.server,
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
    marked = [c.server for c in run.cells
              if (c.scenario, c.users) == (ceiling.scenario, ceiling.users) and limits.at_ceiling(c)]
    return (f"Generator ceiling at {format_users(ceiling.users)}: {format_rps(ceiling.rps)} rps, locust's rate "
            f"against {ceiling.server}, the server with the highest wrk peak ({format_rps(ceiling.wrk_rps)} rps). "
            f"Locust figures at or above {CEILING_SHARE * 100:g} % of it ({format_rps(ceiling.share_rps)} rps) are "
            f"at the generator's ceiling: {', '.join(marked)}. For those, locust's rps only shows what locust "
            f"could send; the wrk peak is the figure to compare the servers' capacity.")


def scenario_view(run: Run, scenario: str, limits: Limits) -> dict:
    """Everything one scenario's section shows: its sweep, one table per users step, chart notes."""
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
        })
    cells = [c for c in run.cells if c.scenario == scenario]
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
        "no_samples": [c.server + ("" if c.ok else " (failed)") for c in timeline_cells if not cell_samples(c)],
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
        commands = _unique([format_command(cell.server_command) for cell in cells if cell.server_command])
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
    rated = [cell for cell in run.cells if cell.rate]
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
        "missed": [{"scenario": where(run, c.scenario, c.users), "server": c.server, "rps": format_rps(c.rps),
                    "rate": format_rps(c.rate)} for c in rated if rate_missed(c)],
        "met_share": f"{RATE_MET_SHARE * 100:g}",
    }


def _ordered(run: Run, cells: list[Cell]) -> list[Cell]:
    """Cells in report order: scenario, then users step, then server, as the run was asked for."""
    scenarios, servers = scenario_order(run), server_order(run)
    return sorted(cells, key=lambda c: (scenarios.index(c.scenario), c.users, servers.index(c.server)))


def caveats(run: Run, limits: Limits | None = None) -> dict:
    """Everything a reader must know before trusting a number, gathered for the top of the report."""
    limits = limits or Limits(run)
    meta = run.meta
    servers_meta = meta.get("servers") or {}
    ok = [cell for cell in run.cells if cell.ok]
    cpus = meta.get("cpus") or {}
    shared = sorted(set(cpus.get("server") or []) & set(cpus.get("generator") or []))
    has_wrk = any(cell.wrk_rps is not None for cell in run.cells)
    notes = _unique(cell.wrk_note for cell in run.cells if cell.wrk_note)
    missing_wrk = [note for note in notes if WRK_MISSING.search(note)]

    ok = _ordered(run, ok)

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
            {"scenario": where(run, c.scenario, c.users), "server": c.server, "rps": format_rps(c.rps, True),
             "generator_cpu": format_generator_cpu(c), "reason": reason(c)}
            for c in ok if limits.lower_bound(c)
        ],
        "unknown_limit": [{"scenario": where(run, c.scenario, c.users), "server": c.server}
                          for c in ok if c.limit not in ("generator", "server") and not limits.lower_bound(c)],
        "failed": [
            {"scenario": where(run, c.scenario, c.users), "server": c.server, "error": c.error or "no reason recorded",
             "problems": [p for p in (c.verification or {}).get("problems") or [] if p not in (c.error or "")]}
            for c in _ordered(run, run.cells) if not c.ok
        ],
        "request_failures": [
            {"scenario": where(run, c.scenario, c.users), "server": c.server,
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
            {"scenario": where(run, c.scenario, c.users), "server": c.server,
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


def status_text(run: Run) -> tuple[str, str]:
    """The run's status and, unless it completed, a plain sentence on what the report is missing."""
    status = run.meta.get("status") or "unknown"
    if status == "complete":
        return status, ""
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
        "scenarios": [scenario_view(run, s, limits) for s in scenario_order(run)],
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
        },
    }


# --------------------------------------------------------------------------------------------
# Charts: matplotlib figures rendered to inline SVG.
# --------------------------------------------------------------------------------------------

#: Hatch drawn on generator-bound bars, the visual twin of "≥" in the tables.
LOWER_BOUND_HATCH = "///"
SERVER_COLORS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")
PERCENTILE_COLORS = ("#c6dbef", "#6baed6", "#2171b5", "#08519c", "#08306b")
CEILING_COLOR = "#777777"


def server_colors(run: Run) -> dict[str, str]:
    """One fixed colour per server, so a server looks the same in every chart of the report."""
    return {server: SERVER_COLORS[i % len(SERVER_COLORS)] for i, server in enumerate(server_order(run))}


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


def _tick_label(entry: Entry, limits: Limits) -> str:
    cell = entry.cell
    label = entry.server
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
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    top = max([e.cell.rps for e in entries if e.measured] + ([ceiling.rps] if ceiling else []), default=1.0) or 1.0
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
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e, limits) for e in entries])
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
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
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
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
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
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylabel("latency, ms (log scale)")
    ax.set_title(f"{where(run, scenario, users)}: latency percentiles")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(color=color, label=title) for color, (_, title) in zip(PERCENTILE_COLORS, PERCENTILES)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"latency-{scenario}-{users}",
                           f"{where(run, scenario, users)}: latency percentiles by server")


def _sweep_cells(run: Run, scenario: str) -> dict[str, dict[int, Cell]]:
    """Per server (in run order), its cells of one scenario by users step."""
    out: dict[str, dict[int, Cell]] = {}
    for server in server_order(run):
        cells = {c.users: c for c in run.cells if c.scenario == scenario and c.server == server and c.users}
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
    fig = Figure(figsize=(9.6, 4.4), layout="constrained")
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
    cpu_ax.legend(fontsize=7, loc="lower right", frameon=False)
    rss_ax.set_ylim(bottom=0)
    rss_ax.set_xlabel("seconds since cell start")
    rss_ax.set_ylabel("server RSS, MB")
    rss_ax.set_title(f"{where(run, scenario, users)}: server memory", fontsize=10)
    rss_ax.legend(fontsize=7, loc="lower right", frameon=False)
    for ax in (cpu_ax, rss_ax):
        ax.grid(alpha=0.3)
    return svg_from_figure(fig, f"timeline-{scenario}-{users}",
                           f"{where(run, scenario, users)}: CPU and memory over time by server")


#: The charts of one scenario, in the order the HTML report shows them.
CHART_KINDS = ("sweep_throughput", "sweep_latency", "rps", "latency", "timeline")


def charts(run: Run) -> dict[str, dict[str, markupsafe.Markup | None]]:
    """All charts of the HTML report, per scenario and kind (``CHART_KINDS``), marked safe for the
    autoescaping template; a chart that does not apply (a sweep chart of a single-step run, a
    timeline without samples) is None."""
    limits = Limits(run)
    out = {}
    for scenario in scenario_order(run):
        made = {
            "sweep_throughput": chart_sweep_throughput(run, scenario, limits),
            "sweep_latency": chart_sweep_latency(run, scenario, limits),
            "rps": chart_rps(run, scenario, limits=limits),
            "latency": chart_latency(run, scenario, limits=limits),
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
