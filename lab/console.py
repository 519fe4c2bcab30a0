"""What a person sees while a bench runs: the current cell, elapsed and remaining time, a summary."""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from lab.results import Cell, Run


def fmt_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class TerminalProgress:
    """Prints a line per cell and a live status line for its current stage."""

    def __init__(self, seconds_per_cell_guess: float, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)
        if not self.console.is_terminal:
            self.console.width = 160  # logs and CI: do not squeeze the summary table into 80 columns
        self.guess = seconds_per_cell_guess
        self.started = time.monotonic()
        self.cell_started_at = self.started
        self.done = 0
        self.total = 0
        self.label = ""
        self.status = None
        self.failed_rounds_seen: dict[int, int] = {}  # id(cell) -> its failed rounds already printed

    def remaining(self, total: int, done: int) -> float:
        elapsed = time.monotonic() - self.started
        per_cell = elapsed / done if done else self.guess
        return per_cell * (total - done)

    def cell_started(self, index: int, total: int, label: str) -> None:
        self.total, self.done = total, index - 1
        self.label = f"[{index}/{total}] {label}"
        self.cell_started_at = time.monotonic()
        if self.status is None:
            self.status = self.console.status("")
            self.status.start()

    def stage(self, text: str) -> None:
        elapsed = fmt_duration(time.monotonic() - self.started)
        left = fmt_duration(self.remaining(self.total, self.done))
        self.status.update(f"{self.label}: {text}  (elapsed {elapsed}, about {left} left)")

    def cell_finished(self, cell: Cell) -> None:
        took = time.monotonic() - self.cell_started_at
        failed_before = self.failed_rounds_seen.get(id(cell), 0)
        self.failed_rounds_seen[id(cell)] = len(cell.failed_rounds)
        if len(cell.failed_rounds) > failed_before:  # this round failed; earlier rounds stand
            outcome = f"[red]round failed[/]: {cell.failed_rounds[-1]['reason'][:300]}"
        elif cell.ok:
            latest = cell.repeats[-1]
            peak = f", wrk {latest['wrk_rps']:,.0f} rps" if latest.get("wrk_rps") else ""
            p99 = (latest["latency_ms"] or {}).get("p99")
            outcome = (f"[green]ok[/] {latest['rps']:,.0f} rps, p99 {fmt(p99)} ms, "
                       f"{latest['failures']} failures{peak}\n    limit: {limit_text(cell)}")
        else:
            outcome = f"[red]failed[/]: {cell.error[:300]}"
        self.console.print(f"{self.label} {outcome} [dim]({took:.0f} s)[/]")

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()


def summary_table(run: Run) -> Table:
    table = Table(title=f"run {run.meta.get('run_id')} ({run.meta.get('status')})")
    for column in ("server", "scenario", "users", "status", "rps", "wrk rps", "p50 ms", "p99 ms", "failures",
                   "server CPU %", "generator CPU %", "limit"):
        table.add_column(column, justify="left" if column in ("server", "scenario", "status") else "right")
    for cell in run.cells:
        lat = cell.latency_ms or {}
        table.add_row(cell.server, cell.scenario, str(cell.users), cell.status if cell.ok else "[red]failed[/]",
                      *(fmt(v) for v in (cell.rps, cell.wrk_rps, lat.get("p50"), lat.get("p99"), cell.failures,
                                         cell.server_cpu_pct, cell.generator_cpu_pct)),
                      LIMIT_LABELS.get(cell.limit, cell.limit) if cell.ok else "—")
    return table


#: How the summary table shows ``cell.limit``: a generator-bound rps is a lower bound.
LIMIT_LABELS = {"generator": "generator (rps ≥)", None: "unknown"}


def limit_text(cell: Cell) -> str:
    """The cell's limit and why, as ``lab.limits`` decided it (the only place it is decided)."""
    return f"{LIMIT_LABELS.get(cell.limit, cell.limit)}: {cell.limit_reason or 'no reason recorded'}"


def fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    return f"{value:,}"


PROBE_STYLE = {"ok": "green", "differs": "yellow", "fails": "red", "error": "magenta"}


def probe_table(run: Run) -> Table:
    """Server x probe matrix: what each server did at the edges (``meta.probes``)."""
    probes = run.meta["probes"]
    names = list(dict.fromkeys(result["probe"] for results in probes.values() for result in results))
    table = Table(title="conformance probes")
    table.add_column("probe")
    for server in probes:
        table.add_column(server)
    for name in names:
        row = []
        for results in probes.values():
            found = [r for r in results if r["probe"] == name]
            row.append(f"[{PROBE_STYLE.get(found[0]['outcome'], 'white')}]{found[0]['summary']}[/]" if found else "—")
        table.add_row(name, *row)
    return table


def corpus_table(run: Run) -> Table:
    """Per server, the ``--corpus`` replay's tally (``meta.corpus``): as the corpus expects, or not."""
    corpus = run.meta["corpus"]
    table = Table(title=f"corpus replay: {corpus['folder']}")
    for column in ("server", "files", "as expected", "unexpected", "no expectation", "accepted / rejected / stalled"):
        table.add_column(column)
    for server, replay in corpus["servers"].items():
        tally, kinds = replay["tally"], replay["tally"]["kinds"]
        table.add_row(server, str(tally["files"]), f"[green]{tally['as_expected']}[/]",
                      f"[red]{tally['unexpected']}[/]" if tally["unexpected"] else "0", str(tally["no_expectation"]),
                      " / ".join(str(kinds.get(kind, 0)) for kind in ("accepted", "rejected", "stalled")))
    return table
