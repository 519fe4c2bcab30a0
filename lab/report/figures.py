"""The limit and figure queries every output of the report package reads, in one place.

A cell's limit is decided once, when it is measured (``lab.limits``: ``cell.limit`` in
{generator, server, load} and ``cell.limit_reason``); the report only reads it.  From it follow:

* whether a cell's locust rps is a lower bound (exactly when the generator was the limit);
* a configuration's capacity, its best figure: server-bound locust rps, else wrk's peak;
* the common-rate step (``meta.common_rate``): fixed-rate cells at one offered rate per scenario
  that every configuration could carry, where latencies are compared at the same load;
* the marks a figure carries in every table, with one legend.
"""

from __future__ import annotations

import dataclasses

from lab.results import Cell, Run

#: The marks a figure may carry, in the order of the legend; each table shows the legend once.
MARKS = {
    "≥": "lower bound: the load generator was the limit, the server may be faster",
    "°": "load-bound: neither side was saturated (the closed loop or the server's serial design set the rate)",
    "~": "noisy: varied by more than 5 % over its rounds",
    "!": "some requests failed",
    "†": "a round failed (its reason is in results.json, failed_rounds); the figures are the other rounds' medians",
    "↓": "the offered common rate was not carried",
    "×": "failed: no figure",
}


def lower_bound(cell: Cell) -> bool:
    """True when the cell's locust rps only shows what the generator could send."""
    return cell.ok and cell.limit == "generator"


def limit_reason(cell: Cell) -> str:
    """The one sentence ``lab.limits`` recorded for the cell's limit; older documents have none."""
    reason = getattr(cell, "limit_reason", None)  # absent from documents written before lab.limits
    if reason:
        return reason
    return {"generator": "the load generator was saturated", "server": "the server was saturated",
            "load": "neither side was saturated"}.get(cell.limit or "", "no limit recorded")


def limit_mark(cell: Cell) -> str:
    """The mark of a cell's locust figure: "≥" generator-bound, "°" load-bound, "" server-bound."""
    if not cell.ok:
        return "×"
    return {"generator": "≥", "load": "°"}.get(cell.limit or "", "")


def is_common_rate(run: Run, cell: Cell) -> bool:
    """True for a cell of the common-rate step (a fixed rate the bench added, not asked with ``--rate``)."""
    planned = (run.meta.get("common_rate") or {}).get(cell.scenario) or {}
    return bool(cell.rate) and cell.rate == planned.get("rate")


def common_rate(run: Run, scenario: str) -> dict | None:
    """The common-rate step of a scenario as the bench planned it: ``{"rate", "basis"}``, or None."""
    return (run.meta.get("common_rate") or {}).get(scenario)


@dataclasses.dataclass(frozen=True)
class Capacity:
    """A configuration's best capacity figure and where it comes from."""

    rps: float
    source: str  # "locust" (server-bound) or "wrk" (peak), or "locust" as a marked bound
    mark: str  # "" for a figure that can rank; "≥" or "°" when it is a bound

    @property
    def ranks(self) -> bool:
        """Only a figure without a mark is the server's capacity and may be ranked."""
        return not self.mark


def capacity(cell: Cell | None) -> Capacity | None:
    """Server-bound locust rps, else wrk's peak, else the locust rps with its limit mark."""
    if cell is None or not cell.ok:
        return None
    if cell.limit == "server" and cell.rps is not None:
        return Capacity(cell.rps, "locust", "")
    if cell.wrk_rps is not None:
        return Capacity(cell.wrk_rps, "wrk", "")
    if cell.rps is not None:
        return Capacity(cell.rps, "locust", limit_mark(cell) or "≥")
    return None


def best_capacity(cells: list[Cell]) -> tuple[Cell, Capacity] | None:
    """The cell with a configuration's best capacity across its steps: rankable figures first."""
    found = [(cell, capacity(cell)) for cell in cells]
    found = [(cell, cap) for cell, cap in found if cap is not None]
    if not found:
        return None
    return max(found, key=lambda item: (item[1].ranks, item[1].rps))
