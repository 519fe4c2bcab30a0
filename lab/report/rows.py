"""Read a run's result document into the rows and facts both reports show.

Formatting (one small function per kind of figure, each mapping None to ``MISSING``), reading the
document (steps, rounds, spreads and each server's knee) and the per-step tables, the servers
table and the caveats.  This is the first step of the flow results.json → rows → verdicts →
charts → templates; a cell's limit and capacity are read through ``lab.report.figures``.
"""

from __future__ import annotations

import dataclasses
import re
import shlex

from lab.aggregate import LITTLES_LAW_TOLERANCE_PCT
from lab.results import GENERATOR_BOUND_CPU_PCT, Cell, Run
from lab.report.figures import is_common_rate, limit_mark, limit_reason, lower_bound
from lab.stats import KNEE_ERROR_PCT, KNEE_P99_FACTOR, is_noisy, knee, spread


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


def format_limit(cell: Cell) -> str:
    """What capped the cell, as ``lab.limits`` recorded it, in words a reader cannot mistake for a
    server ranking."""
    if not cell.ok:
        return f"failed: {cell.error or 'no reason recorded'}"
    if cell.limit == "generator":
        return f"generator-bound (lower bound): {limit_reason(cell)}"
    if cell.limit in ("server", "load"):
        return f"{cell.limit}: {limit_reason(cell)}"
    return "unknown (no limit recorded)"


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


#: A failed cell's error is shown up to this many characters; results.json keeps it whole.
ERROR_CHARS = 160


def shorten(text: str) -> str:
    """One line of at most ``ERROR_CHARS``, whitespace runs folded, "…" where it was cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= ERROR_CHARS else flat[:ERROR_CHARS - 1] + "…"


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
# Reading the document: steps, rounds, spreads and each server's knee.
# --------------------------------------------------------------------------------------------


def unique(items) -> list:
    seen: dict = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def server_order(run: Run) -> list[str]:
    """Servers in the order the run was asked for, then any others that appear in the document."""
    options = run.meta.get("options") or {}
    return unique(
        list(options.get("servers") or [])
        + [cell.server for cell in run.cells]
        + list((run.meta.get("servers") or {}).keys())
    )


def contest_cells(run: Run) -> list[Cell]:
    """The cells that take part in the per-step tables, charts and rankings: every cell but the A/A
    twin, which only measures the run's noise floor, and the common-rate step, which the verdict
    table shows (``common_rate_cells``)."""
    return [cell for cell in run.cells if not cell.aa_twin and not is_common_rate(run, cell)]


def common_rate_cells(run: Run, scenario: str) -> dict[str, Cell]:
    """The common-rate step of a scenario, per configuration label."""
    return {config_label(run, cell): cell for cell in run.cells
            if cell.scenario == scenario and not cell.aa_twin and is_common_rate(run, cell)}


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
    return unique(list(options.get("scenarios") or []) + [cell.scenario for cell in run.cells])


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


def sweep_knees(run: Run, scenario: str) -> list[dict]:
    """Per server: its figures at every users step and its knee in words (``stats.knee``)."""
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
                lower = lower_bound(cell)
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


def _row(entry: Entry, rank: int | None, group: str) -> dict:
    cell = entry.cell
    if cell is None:
        blank = {key: MISSING for key in _FIGURE_KEYS}
        blank.update({title: MISSING for _, title in PERCENTILES})
        return {"group": group, "rank": None, "server": entry.server, "users": None, "limit": entry.missing, "limit_word": entry.missing, "mark": "",
                "rps_main": MISSING, "rps_range": "", "noisy": False, "gap_flag": None,
                "wrk_main": MISSING, "wrk_range": "", "wrk_is_note": False, **blank}
    latency = cell.latency_ms or {}
    lower = lower_bound(cell)
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
        "limit": format_limit(cell),
        "limit_word": cell.limit or "unknown",
        "mark": limit_mark(cell),
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


def scenario_rows(run: Run, scenario: str, users: int | None = None) -> list[dict]:
    """One table's rows (a scenario at one users step) in clearly separated groups.

    Only server-bound ok cells are ranked (by rps, highest first): their rps is the server's
    capacity.  Cells whose generator was the limit (``figures.lower_bound``) follow, unranked, because their rps is only a lower bound and ranking it against real
    capacities would be wrong in either direction.  Then ok cells whose limit is unknown, failed
    cells, and servers without a cell.
    """
    groups: dict[str, list[Entry]] = {"server": [], "generator": [], "unknown": [], "failed": [], "missing": []}
    for entry in scenario_entries(run, scenario, users):
        cell = entry.cell
        if cell is None:
            groups["missing"].append(entry)
        elif not cell.ok:
            groups["failed"].append(entry)
        elif lower_bound(cell):
            groups["generator"].append(entry)
        elif cell.limit == "server" and cell.rps is not None:
            groups["server"].append(entry)
        else:
            groups["unknown"].append(entry)
    by_rps = lambda entry: -(entry.cell.rps if entry.cell and entry.cell.rps is not None else -1)  # noqa: E731
    rows = [_row(entry, rank, "server") for rank, entry in enumerate(sorted(groups["server"], key=by_rps), 1)]
    for group in ("generator", "unknown"):
        rows += [_row(entry, None, group) for entry in sorted(groups[group], key=by_rps)]
    rows += [_row(entry, None, "failed") for entry in groups["failed"]]
    rows += [_row(entry, None, "missing") for entry in groups["missing"]]
    return rows


def server_rows(run: Run) -> list[dict]:
    """One row per server: version, model, workers/threads and the exact command(s) it ran with."""
    servers_meta = run.meta.get("servers") or {}
    rows = []
    for server in server_order(run):
        info = servers_meta.get(server) or {}
        cells = [cell for cell in run.cells if cell.server == server]
        models = unique([cell.server_model for cell in cells if cell.server_model]) or [info.get("model")]
        shapes = unique([f"{cell.workers} / {cell.threads}" for cell in cells])
        # One exact command per workers × threads setting (the first cell's): cells differ only by port.
        firsts = {}
        for cell in cells:
            if cell.server_command:
                firsts.setdefault((cell.workers, cell.threads), format_command(cell.server_command))
        commands = list(firsts.values())
        warnings = unique(w for cell in cells for w in (cell.verification or {}).get("warnings") or [])
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
        rates = unique(cell.rate for cell in rated if cell.users == users)
        for rate in rates:
            each = rate / users
            per_user.append(f"{format_rps(rate)} req/s ÷ {format_users(users)} = {format_rps(each)} req/s per "
                            f"user, one request every {format_ms(1000 / each)} ms")
    return {
        "rates": ", ".join(format_rps(rate) for rate in unique(cell.rate for cell in rated)),
        "per_user": per_user,
        "missed": [{"scenario": where(run, c.scenario, c.users), "server": config_label(run, c), "rps": format_rps(c.rps),
                    "rate": format_rps(c.rate)} for c in rated if rate_missed(c)],
        "met_share": f"{RATE_MET_SHARE * 100:g}",
    }


def ordered_cells(run: Run, cells: list[Cell]) -> list[Cell]:
    """Cells in report order: scenario, then users step, then server, as the run was asked for."""
    scenarios, servers = scenario_order(run), server_order(run)
    return sorted(cells, key=lambda c: (scenarios.index(c.scenario), c.users, servers.index(c.server), c.workers,
                                        c.threads, c.aa_twin))


def caveats(run: Run) -> dict:
    """Everything a reader must know before trusting a number, gathered for the top of the report."""
    meta = run.meta
    servers_meta = meta.get("servers") or {}
    ok = [cell for cell in contest_cells(run) if cell.ok]
    cpus = meta.get("cpus") or {}
    shared = sorted(set(cpus.get("server") or []) & set(cpus.get("generator") or []))
    has_wrk = any(cell.wrk_rps is not None for cell in run.cells)
    notes = unique(cell.wrk_note for cell in run.cells if cell.wrk_note)
    missing_wrk = [note for note in notes if WRK_MISSING.search(note)]

    ok = ordered_cells(run, ok)

    def name(cell: Cell) -> str:
        return config_label(run, cell) + (" (A/A twin)" if cell.aa_twin else "")

    return {
        "unknown_limit": [{"scenario": where(run, c.scenario, c.users), "server": name(c)}
                          for c in ok if c.limit not in ("generator", "server", "load")],
        "failed": [
            {"scenario": where(run, c.scenario, c.users), "server": name(c), "error": shorten(c.error or "no reason recorded"),
             "problems": [p for p in (c.verification or {}).get("problems") or [] if p not in (c.error or "")]}
            for c in ordered_cells(run, run.cells) if not c.ok
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
        "rate": _rate_view(run),
    }
