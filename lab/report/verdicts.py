"""Judgements across configurations: noise floor, Little's law, efficiency, which server for what.

The second step of results.json → rows → verdicts → charts → templates: built on ``rows`` and
the capacity and limit queries of ``figures``; ``render`` places them in the reports, and
``charts`` reads the scenarios' stated load (``IO_WAIT_MS``) from here.
"""

from __future__ import annotations

import dataclasses

from lab.aggregate import LITTLES_LAW_TOLERANCE_PCT
from lab.report import rows
from lab.report import figures
from lab.report.figures import lower_bound
from lab import probe
from lab.results import Cell, Run


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
#: What each conformance probe means for someone running the server, declared with the probes.
PROBE_MEANING = probe.MEANING
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
            return f"within the noise floor ({rows.format_share(self.limit(figure))})"
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
    workers = rows.plural(max(cell.workers, 1), "worker")
    if kind == "greenlets":
        return f"{workers}, greenlets"
    if kind == "thread per connection":
        return f"{workers}, a thread per connection"
    return f"{workers} × {rows.plural(max(cell.threads, 1), 'thread')}"


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
    shuffled = rows.rounds(run) > 1
    view = {"measured": False, "seed": seed, "shuffled": shuffled, "reason": "", "pair": [], "advise_repeat": not shuffled,
            "between_runs": f"{BETWEEN_RUNS_PCT:g}", "close": f"{CLOSE_WITHOUT_FLOOR_PCT:g}"}
    twins = [cell for cell in run.cells if cell.aa_twin]
    if floor:
        twin = next((c for c in twins if c.ok and (c.server, c.scenario, c.users) ==
                     (floor.get("server"), floor.get("scenario"), floor.get("users"))), None)
        original = None
        if twin is not None:
            original = next((c for c in rows.contest_cells(run) if c.ok and (c.server, c.scenario, c.users, c.workers,
                             c.threads) == (twin.server, twin.scenario, twin.users, twin.workers, twin.threads)), None)
        label = rows.config_label(run, twin) if twin is not None else floor.get("server") or rows.MISSING
        view.update(measured=True, where=rows.where(run, floor.get("scenario") or rows.MISSING, floor.get("users")),
                    users=rows.format_users(floor["users"]) if floor.get("users") else rows.MISSING, server=label,
                    rps=rows.format_share(floor.get("rps_diff_pct")), p99=rows.format_share(floor.get("p99_diff_pct")),
                    cpu=rows.format_share(floor.get("cpu_us_per_request_diff_pct")))
        for name, cell in (("first measurement", original), ("A/A twin", twin)):
            if cell is not None:
                view["pair"].append({"name": name, "rps": rows.format_rps(cell.rps),
                                     "p99": rows.format_ms((cell.latency_ms or {}).get("p99")),
                                     "cpu_us": rows.format_us(cell.cpu_us_per_request)})
        if view["pair"]:
            view["pair"].append({"name": "difference (% of their mean)", "rps": view["rps"], "p99": view["p99"],
                                 "cpu_us": view["cpu"]})
        return view
    failed = [c for c in twins if not c.ok]
    if failed:
        view["reason"] = (f"The A/A twin ({failed[0].scenario} / {rows.config_label(run, failed[0])}) failed "
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
    cells = [c for c in rows.ordered_cells(run, [c for c in rows.contest_cells(run) if c.ok])
             if c.concurrency is not None or c.littles_law_gap_pct is not None]
    if not cells:
        return None
    closed = [c for c in cells if not c.rate]
    flagged = []
    for cell in closed:
        flag = rows.littles_law_flag(cell)
        if flag is None:
            continue
        if flag == "negative":
            why = ("users spent time outside requests the client measured: in the load generator itself "
                   "(scheduling, answer checks), typical when the generator is saturated")
            saturated = "saturated" if cell.generator_bound else "below the generator-bound threshold"
            why += f"; generator CPU here {rows.format_generator_cpu(cell)} % ({saturated})"
        else:
            why = ("latency was measured over longer than the requests were in flight (e.g. connection "
                   "setup counted, coordinated waits): check this cell")
        flagged.append({"scenario": rows.where(run, cell.scenario, cell.users), "server": rows.config_label(run, cell),
                        "concurrency": rows.format_number(cell.concurrency), "users": rows.format_users(cell.users),
                        "gap": rows.format_signed_pct(cell.littles_law_gap_pct), "direction": flag, "why": why})
    return {"tolerance": f"{LITTLES_LAW_TOLERANCE_PCT:g}", "checked": len(closed), "flagged": flagged,
            "rate_cells": len(cells) - len(closed)}


def _best_per_config(run: Run, cells: list[Cell], key) -> dict[str, Cell]:
    """Per configuration label, the cell that maximises ``key``."""
    out: dict[str, Cell] = {}
    for cell in cells:
        label = rows.config_label(run, cell)
        if label not in out or key(cell) > key(out[label]):
            out[label] = cell
    return out


def _with(cell: Cell) -> str:
    """ "2 workers × 8 threads, 32 users" for a line of figures."""
    return f"{format_settings(cell)}, {rows.format_users(cell.users)}"


def capacities(run: Run, cells: list[Cell]) -> dict[str, tuple[Cell, figures.Capacity]]:
    """Per configuration, its best capacity figure over its closed-loop cells (``figures.capacity``)."""
    by_config: dict[str, list[Cell]] = {}
    for cell in cells:
        if not cell.rate:
            by_config.setdefault(rows.config_label(run, cell), []).append(cell)
    found = {label: figures.best_capacity(found) for label, found in by_config.items()}
    return {label: best for label, best in found.items() if best is not None}


def format_capacity(capacity: figures.Capacity | None) -> str:
    """"89,853 wrk", "≥ 6,334 locust": the figure, its bound mark and which measurement it is."""
    if capacity is None:
        return rows.MISSING
    text = rows.format_rps(capacity.rps)
    prefix = "≥ " if capacity.mark == "≥" else ""
    suffix = "°" if capacity.mark == "°" else ""
    return f"{prefix}{text}{suffix} {capacity.source}"


def throughput_line(run: Run, cells: list[Cell], close: Closeness) -> dict:
    """(a) The best configuration by capacity: server-bound locust rps, else wrk's peak.

    Only unmarked figures rank; a configuration whose only figure is a lower bound above the best
    may be faster, so then no winner is crowned.
    """
    title = "Throughput (capacity: server-bound locust rps, else wrk peak)"
    short = "Capacity"
    found = capacities(run, cells)
    if not found:
        return {"title": title, "short": short, "lead": "", "text": "fixed-rate load only: throughput is set by the "
                "offered rate, so it is not compared here; compare latency below.", "notes": []}
    ranked = {label: item for label, item in found.items() if item[1].ranks}
    bounds = {label: item for label, item in found.items() if not item[1].ranks}
    if not ranked:
        return {"title": title, "short": short, "lead": "", "text": "no figure can rank: every configuration's best "
                "figure is a bound (≥ or °), so no throughput winner can be named.", "notes": []}
    chosen = pick([(label, cap.rps, cell) for label, (cell, cap) in ranked.items()], True, "rps", close)
    best_label, best_rps, best = chosen.best
    lead, text = winner_text(chosen, close.phrase("rps"),
                             lambda label, rps, c: format_capacity(ranked[label][1]),
                             "the only configuration with a figure that can rank")
    notes = []
    beat = [label for label, (cell, cap) in bounds.items() if cap.rps >= best_rps * (1 - close.limit("rps") / 100)]
    if beat:
        one = len(beat) == 1
        lead = "no winner named"
        text = (f": {names(beat)} {'has' if one else 'have'} only a bound ("
                + "; ".join(format_capacity(bounds[label][1]) for label in beat) + ")"
                + f", close to or above {best_label}'s {format_capacity(ranked[best_label][1])}, so "
                + f"{'it' if one else 'they'} may be faster.")
    elif bounds:
        notes.append(f"{names(sorted(bounds))}: only a bound below the best ("
                     + "; ".join(format_capacity(cap) for _cell, cap in bounds.values()) + "), not ranked.")
    if rows.noisy(best):
        notes.append(f"{best_label}'s rps varied over its rounds {rows.format_range(rows.rps_spread(best))}: noisy.")
    if best.failures:
        notes.append(f"{best_label} had failed requests there: {rows.format_failures(best.failures, best.requests)}.")
    return {"title": title, "short": short, "lead": lead, "text": text, "notes": notes}


def latency_line(run: Run, cells: list[Cell], close: Closeness) -> dict:
    """(b) The best configuration by p99 at a stated share of its own peak rps."""
    share = f"{LATENCY_SHARE * 100:g} %"
    usable = [c for c in cells if c.rps and (c.latency_ms or {}).get("p99")]
    by_config: dict[str, list[Cell]] = {}
    for cell in usable:
        by_config.setdefault(rows.config_label(run, cell), []).append(cell)
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
                         f"({rows.format_users(lightest.users)}, {lightest.rps / peak.rps * 100:.0f} % of its peak).")
    chosen = pick([(label, c.latency_ms["p99"], c) for label, c in chosen_cells.items()], False, "p99", close)

    def describe(label: str, p99: float, c: Cell) -> str:
        text = f"p99 {rows.format_ms(p99)} ms with {rows.format_users(c.users)} ({rows.format_rps(c.rps, lower_bound(c))} rps"
        if not one_step:
            peak = peaks[label]
            text += f", {c.rps / peak.rps * 100:.0f} % of its peak {rows.format_rps(peak.rps, lower_bound(peak))} rps"
        return text + ")"

    lead, text = winner_text(chosen, close.phrase("p99"), describe, "the only configuration with a p99")
    lower = [label for label, c in chosen_cells.items() if lower_bound(c)]
    if lower:
        notes.append(f"Generator-bound at the step used: {names(lower)}; {'its' if len(lower) == 1 else 'their'} "
                     "latency includes the generator's own queuing.")
    lower_peaks = [label for label, c in peaks.items() if lower_bound(c) and label not in lower]
    if lower_peaks and not one_step:
        notes.append(f"The peak of {names(lower_peaks)} is a lower bound (generator-bound), so its share of "
                     "the true peak is smaller than shown.")
    return {"title": title, "lead": lead, "text": text, "notes": notes}


def winner_text(chosen, closeness: str, describe, alone: str) -> tuple[str, str]:
    """The lead and sentence of one "which server" line: the best with its runner-up and their gap,
    or "no clear winner" naming every configuration too close to call (``closeness`` says how)."""
    if chosen.tied:
        return "no clear winner", (f": {names([t[0] for t in chosen.tied])} are {closeness}: "
                                   + "; ".join(f"{label} {describe(label, value, c)}"
                                               for label, value, c in chosen.tied) + ".")
    best_label, best_value, best = chosen.best
    text = f": {describe(best_label, best_value, best)}"
    if not chosen.runner_up:
        return best_label, text + f"; {alone}."
    label, value, c = chosen.runner_up
    gap = rows.format_signed_pct((value - best_value) / best_value * 100)
    return best_label, text + f"; runner-up {label}: {describe(label, value, c)}, {gap}."


def cpu_line(run: Run, cells: list[Cell], close: Closeness) -> dict:
    """(c) The best configuration by server CPU µs per request, at each one's highest users step."""
    title = "CPU per request (lower is better)"
    with_cpu = [c for c in cells if c.cpu_us_per_request]
    if not with_cpu:
        return {"title": title, "lead": "", "text": "no CPU-per-request figure in this run.", "notes": []}
    top = _best_per_config(run, with_cpu, lambda c: c.users)
    chosen = pick([(label, c.cpu_us_per_request, c) for label, c in top.items()], False, "cpu", close)
    lead, text = winner_text(chosen, close.phrase("cpu"), lambda label, us, c: f"{rows.format_us(us)} µs",
                             "the only configuration with the figure")
    notes = ["Read at each configuration's highest users step."] if rows.is_sweep(run) else []
    return {"title": title, "lead": lead, "text": text, "notes": notes}


def _model_rows(run: Run, cells: list[Cell]) -> list[tuple[str, Cell]]:
    """Each configuration's best cell (highest rps) in a scenario, in contender order."""
    best = _best_per_config(run, [c for c in cells if c.rps is not None], lambda c: c.rps)
    return [(c.label, best[c.label]) for c in rows.contenders(run) if c.label in best]


def models_view(run: Run, scenario: str, cells: list[Cell]) -> dict:
    """What the concurrency models mean for this workload, with each configuration's figures."""
    server_cpus = (run.meta.get("cpus") or {}).get("server") or []
    lines, columns_, paragraphs = [], [], []
    best = _model_rows(run, cells)
    if scenario == "io":
        per = 1000 / IO_WAIT_MS
        steps = sorted({c.users for c in cells if c.users})
        caps = ", ".join(f"{rows.format_users(u)}: {rows.format_rps(u * per)} rps" for u in steps)
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
            lines.append([label, model,
                         f"{format_settings(c)} = {slots}" if slots and kind == "slots" else (
                             f"{slots} (one per user)" if slots else "no fixed number"),
                         rows.format_rps(bound) if bound else "none (other limits)",
                         rows.format_rps(c.rps, lower_bound(c)), str(c.users), rows.format_rps(c.users * per),
                         f"{c.rps / bound * 100:.0f} %" if bound else rows.MISSING])
    elif scenario == "cpu":
        paragraphs.append(
            "Python threads of one process take turns on one core for Python code (the GIL), so threads add no "
            "throughput here; only worker processes, on more cores, do, and greenlets do not yield during CPU "
            f"work. The server was allowed {rows.plural(len(server_cpus), 'CPU') if server_cpus else 'an unrecorded number of CPUs'}"
            f"{' (' + rows.format_cpus(server_cpus) + ')' if server_cpus else ''}: server CPU % shows how many cores each "
            "configuration kept busy (100 % = one core).")
        columns_ = ["Configuration", "worker processes", "best rps", "users", "server CPU %", "CPU µs / request"]
        for label, c in best:
            lines.append([label, str(max(c.workers, 1)), rows.format_rps(c.rps, lower_bound(c)), str(c.users),
                         rows.format_pct(c.server_cpu_pct), rows.format_us(c.cpu_us_per_request)])
    elif scenario in BODY_KB:
        kb = BODY_KB[scenario]
        way = "written to" if scenario == "large" else "read from"
        paragraphs.append(
            f"Each request moves {kb} KiB, so rps × {kb} KiB is the data rate. A sync worker is held until the "
            f"whole body is {way} the socket; threads and greenlets serve other requests meanwhile. On loopback "
            "the copy itself is cheap, so CPU per request is where configurations differ.")
        columns_ = ["Configuration", "best rps", "MB/s", "users", "server CPU %", "CPU µs / request"]
        for label, c in best:
            lines.append([label, rows.format_rps(c.rps, lower_bound(c)), f"{c.rps * kb / 1024:,.1f}", str(c.users),
                         rows.format_pct(c.server_cpu_pct), rows.format_us(c.cpu_us_per_request)])
    else:
        without = rows.unique(label for label, c in best if keep_alive(run, c) is False)
        if without:
            paragraphs.append(f"{names(without)} {'opens' if len(without) == 1 else 'open'} a new TCP connection "
                              "per request (no keep-alive).")
    return {"paragraphs": paragraphs, "columns": columns_, "rows": lines}


def marked(text: str, marks: list[str]) -> str:
    """A figure with its marks: "≥ 6,334" keeps its prefix, other marks follow ("2.1 ms!")."""
    return text + "".join(mark for mark in marks if mark != "≥")


def capacity_cell_text(cell: Cell | None, capacity: figures.Capacity | None) -> str:
    """The capacity column: figure, source and marks; "failed" or "—" when there is none."""
    if cell is not None and not cell.ok:
        return "× failed"
    marks = [m for m, on in (("~", cell is not None and rows.noisy(cell)),
                             ("!", cell is not None and bool(cell.failures)),
                             ("†", cell is not None and bool(cell.failed_rounds))) if on]
    return marked(format_capacity(capacity), marks)


def p99_text(cell: Cell | None) -> str:
    """The p99 of a configuration's common-rate cell, marked when it failed or missed the rate."""
    if cell is None:
        return rows.MISSING
    if not cell.ok:
        return "× failed"
    marks = [m for m, on in (("!", bool(cell.failures)), ("↓", rows.rate_missed(cell))) if on]
    return marked(rows.format_ms((cell.latency_ms or {}).get("p99")), marks)


def verdict_table(run: Run, scenario: str, close: Closeness) -> dict:
    """The answer for one scenario: per configuration its capacity, p99 at the common rate, CPU per
    request and RSS, each marked, and one line naming a winner only on figures that can rank."""
    cells = [c for c in rows.contest_cells(run) if c.scenario == scenario]
    best = capacities(run, [c for c in cells if c.ok])
    common = rows.common_rate_cells(run, scenario)
    plan = figures.common_rate(run, scenario)
    table = []
    for contender in rows.contenders(run):
        own = [c for c in cells if rows.config_label(run, c) == contender.label]
        cell, cap = best.get(contender.label, (own[0] if own else None, None))
        table.append({
            "server": contender.label,
            "capacity": capacity_cell_text(cell, cap) if own else "not run",
            "p99": p99_text(common.get(contender.label)),
            "cpu_us": rows.format_us(cell.cpu_us_per_request) if cell is not None and cell.ok else rows.MISSING,
            "rss": rows.format_mb(cell.server_rss_mb) if cell is not None and cell.ok else rows.MISSING,
        })
    ok_cells = [c for c in cells if c.ok and c.rps is not None]
    lines = [throughput_line(run, ok_cells, close)] if ok_cells else []
    common_ok = [c for c in common.values() if c.ok and (c.latency_ms or {}).get("p99")]
    if common_ok:
        lines.append(common_rate_line(run, common_ok, close))
    return {
        "name": scenario,
        "rate": rows.format_rps(plan["rate"]) if plan else "",
        "basis": (plan or {}).get("basis", ""),
        "rows": table,
        "drawable": bool(best),
        "verdict": " ".join(f"{line['short']}: {line['lead'] or ''}{line['text']}" for line in lines),
    }


def common_rate_line(run: Run, cells: list[Cell], close: Closeness) -> dict:
    """The best configuration by p99 at the common offered rate: the same load for everyone."""
    chosen = pick([(rows.config_label(run, c), c.latency_ms["p99"], c) for c in cells], False, "p99", close)
    rate = rows.format_rps(cells[0].rate)
    lead, text = winner_text(chosen, close.phrase("p99"), lambda label, p99, c: f"p99 {rows.format_ms(p99)} ms",
                             "the only configuration with a p99")
    missed = [rows.config_label(run, c) for c in cells if rows.rate_missed(c)]
    notes = [f"{names(missed)} did not carry the offered rate (marked \"↓\")."] if missed else []
    return {"title": f"Latency (p99 at {rate} rps offered to every configuration)", "short": f"p99 at {rate} rps",
            "lead": lead, "text": text, "notes": notes}


def workload_views(run: Run, close: Closeness) -> list[dict]:
    """"Which server for which workload": per scenario, the three lines and what the models mean."""
    out = []
    for scenario in rows.scenario_order(run):
        cells = [c for c in rows.contest_cells(run) if c.scenario == scenario and c.ok and c.rps is not None]
        view = {"name": scenario, "about": SCENARIO_ABOUT.get(scenario, ""), "lines": [], "models": None}
        if not cells:
            view["lines"] = [{"title": "No figures", "lead": "", "text": "no cell of this scenario was measured.",
                              "notes": []}]
        else:
            # With a common-rate step, the verdict table already compares latency at the same load.
            common = rows.common_rate_cells(run, scenario)
            view["lines"] = ([] if common else [latency_line(run, cells, close)]) + [cpu_line(run, cells, close)]
            view["models"] = models_view(run, scenario, cells)
        out.append(view)
    return out


def probe_view(run: Run) -> dict | None:
    """The conformance probe matrix (``meta.probes``): rows probes, columns servers."""
    probes = run.meta.get("probes")
    if not probes:
        return None
    servers = list(probes)
    order = rows.unique(result.get("probe") for results in probes.values() for result in results or [])
    matrix = []
    for probe in order:
        cells = []
        for server in servers:
            found = next((r for r in probes[server] or [] if r.get("probe") == probe), None)
            if found is None:
                cells.append({"server": server, "outcome": "missing", "summary": rows.MISSING, "detail": "", "mark": ""})
                continue
            outcome = found.get("outcome") or "error"
            cells.append({"server": server, "outcome": outcome, "summary": found.get("summary") or rows.MISSING,
                          "detail": found.get("detail") or "", "mark": "" if outcome == "ok" else outcome})
        matrix.append({"probe": probe, "meaning": PROBE_MEANING.get(probe, ""), "cells": cells})
    counts = {server: {outcome: sum(1 for r in probes[server] or [] if r.get("outcome") == outcome)
                       for outcome, _ in PROBE_OUTCOMES} for server in servers}
    totals = [{"server": server, "text": ", ".join(f"{n} {outcome}" for outcome, n in counts[server].items() if n)}
              for server in servers]
    return {"servers": servers, "rows": matrix, "outcomes": PROBE_OUTCOMES, "totals": totals}


def corpus_view(run: Run) -> dict | None:
    """The replay of a folder of raw requests (``meta.corpus``, ``probe --corpus``): a tally per server."""
    corpus = run.meta.get("corpus")
    if not corpus:
        return None
    tallies = []
    for server, found in (corpus.get("servers") or {}).items():
        tally = found.get("tally") or {}
        kinds = tally.get("kinds") or {}
        tallies.append({"server": server, "files": tally.get("files"), "as_expected": tally.get("as_expected"),
                        "unexpected": tally.get("unexpected"), "no_expectation": tally.get("no_expectation"),
                        "kinds": ", ".join(f"{n} {kind}" for kind, n in kinds.items() if n)})
    return {"folder": corpus.get("folder"), "tallies": tallies}
