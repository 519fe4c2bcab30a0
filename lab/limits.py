"""What capped a cell's throughput, decided here and only here: the generator, the server or the load.

Every output (console, report, charts, ``lab compare``) reads the decision from ``cell.limit`` and
``cell.limit_reason``; none decides again.  The decision is made per round and for the cell's
medians, from figures measured in the same window:

- ``generator``: locust wanted 90 % of its core: it ran that much, or ran and waited on the run
  queue for a CPU that long (a neighbour on its CPUs starved it), unless wrk got no more than
  ``SERVER_ROOM`` times its rps from the same server (then the server had no room to give); where
  wrk did get that much more, 80 % of its core is enough; or the cell's rps reached 90 % of
  the calibrated ceiling of its client on its scenario (``meta["calibration"]``, measured against
  the cheapest server).  The rps is then a lower bound.  Busy generator CPUs alone do not make
  locust the limit: a locust idle at 1 % while others fill its core was waiting for the server.
  Only a document without the run-queue figure (older ones) falls back to "its CPUs were 90 % busy".
- ``server``: the server's CPU is saturated for its model.  A Python process runs the app on one
  core at a time (the GIL), so N serving processes can use at most N cores, and never more than the
  server's CPU set: it ran, or ran and waited for a CPU while its CPUs were full, 90 % of
  ``min(processes, CPUs)`` cores (threads also queue on an idle core, handing work to each other;
  older documents without the run-queue figure: its CPU set 90 % busy when it can fill it).
- ``load``: neither side saturated.  In a closed loop the users wait for each answer, so users /
  mean latency is all the loop can send; with ``--rate`` the arrival rate is.  A server that serves
  one request at a time per process (its model says so) leaves its CPU idle during every round
  trip.  The reason says which.
- ``None``: a figure the decision needs was not measured (never guessed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

#: A CPU (locust's core, the generator's CPUs, the server's cores) at or above this share is saturated.
SATURATED_PCT = 90.0
#: locust at or above this share of its calibrated ceiling is the limit.
CEILING_SHARE = 0.9
#: What a server model says when each process serves one request at a time (gunicorn sync, wsgiref).
SERIAL_MODEL = "one request at a time"
#: wrk, at the same concurrency against the same server, getting this many times locust's rps shows
#: the server had room: then a busy locust was what capped the cell; below it, locust's CPU did not
#: cap anything (the server gave wrk no more).  The calibration uses the same factor.
SERVER_ROOM = 1.5
#: With that room shown, locust running this share of its core already counts as the limit.
GENERATOR_NEAR_PCT = 80.0
#: A server whose threads waited this much for a CPU (summed over threads) without a full core is
#: slowed by its own thread hand-offs; the load reason says so.
SERVER_QUEUED_PCT = 50.0
#: locust's rps further than this from wrk's at the same concurrency needs a reason in the sentence.
WRK_GAP_PCT = 20.0
#: wrk's p99 this many times locust's means wrk's connections queued at the server, not its requests.
QUEUED_CONNECTIONS_FACTOR = 10.0


@dataclasses.dataclass(frozen=True)
class Setting:
    """What the decision needs to know about the run, beyond the cell: read from ``run.meta``."""

    server_cpus: int | None  # size of the server's CPU set; None when unknown (containers)
    ceilings: dict | None  # calibration["ceilings"]: {client: {scenario: rps}}, None without calibration
    shared_cpus: tuple[int, ...] = ()  # CPUs the server and locust share (--share-cpus on)

    @classmethod
    def of(cls, meta: Mapping) -> Setting:
        cpus = meta.get("cpus") or {}
        server, generator = cpus.get("server") or [], cpus.get("generator") or []
        ceilings = (meta.get("calibration") or {}).get("ceilings")
        return cls(len(server) or None, ceilings, tuple(sorted(set(server) & set(generator))))


@dataclasses.dataclass(frozen=True)
class Limit:
    label: str | None  # "generator", "server", "load" or None
    reason: str  # one sentence a reader can check against the figures


def decide(figures: Mapping, cell, setting: Setting) -> Limit:
    """The limit of one round (its figures) or of a cell (its medians); ``cell`` gives the plan
    (server, model, scenario, client, users, rate, workers)."""
    if figures.get("rps") is None:
        return Limit(None, "no throughput was measured")
    limit = generator_limit(figures, cell, setting)
    if limit is None:
        unsampled = [name for key, name in (("generator_cpu_pct", "locust's CPU"), ("server_cpu_pct", "the server's CPU"))
                     if figures.get(key) is None]
        if unsampled:
            return Limit(None, f"{' and '.join(unsampled)} not sampled in the measured window: no limit can be named")
        limit = server_limit(figures, cell, setting) or load_limit(figures, cell, setting)
    return caveats(with_wrk_gap(limit, figures, cell), cell, setting)


def apply(cell, setting: Setting) -> None:
    """Decide, in place, every round's limit (``cell.repeats``) and the cell's from its medians."""
    for figures in cell.repeats:
        figures["limit"], figures["limit_reason"] = dataclasses.astuple(decide(figures, cell, setting))
    cell.limit, cell.limit_reason = dataclasses.astuple(decide(vars(cell), cell, setting))


def server_room(figures: Mapping) -> float | None:
    """wrk's rps over locust's at the same concurrency: how much more the server could give."""
    rps, wrk = figures.get("rps"), figures.get("wrk_rps")
    return wrk / rps if rps and wrk is not None else None


def generator_limit(figures: Mapping, cell, setting: Setting) -> Limit | None:
    """``generator`` with every clause that holds, or None when locust had room to send more.

    wrk's figure is the direct evidence: a server that gave wrk no more than locust got was not
    held back by locust, however busy locust's core was; a server that gave wrk much more was, once
    locust ran ``GENERATOR_NEAR_PCT`` of its core."""
    room = server_room(figures)
    if room is not None and room < SERVER_ROOM:
        return None
    found = cpu_clauses(figures, SATURATED_PCT if room is None else GENERATOR_NEAR_PCT)
    if found and room is not None:
        found.append(f"wrk got {room:.1f}× its rps from the same server at the same concurrency")
    ceiling = calibrated_ceiling(cell, setting)
    if ceiling and figures["rps"] >= CEILING_SHARE * ceiling:
        found.append(f"{figures['rps']:,.0f} rps is {figures['rps'] / ceiling:.0%} of the calibrated "
                     f"{cell.client or 'locust'} ceiling on {cell.scenario} ({ceiling:,.0f} rps)")
    if not found:
        return None
    return Limit("generator", "; ".join(found) + ": the rps is a lower bound of the server's capacity")


def cpu_clauses(figures: Mapping, threshold: float) -> list[str]:
    """locust used ``threshold`` % of its core, or ran and waited for a CPU that long."""
    own, busy = figures.get("generator_cpu_pct"), figures.get("generator_cores_busy_pct")
    waited = figures.get("generator_wait_pct")
    found = []
    if own is not None and own >= threshold:
        found.append(f"locust used {own:.0f} % of its core")
    elif own is not None and waited is not None and own + waited >= threshold:
        cpus = "" if busy is None else f" (its CPUs {busy:.0f} % busy)"
        found.append(f"locust ran {own:.0f} % and waited {waited:.0f} % of the time for a CPU{cpus}")
    elif waited is None and busy is not None and busy >= threshold:
        found.append(f"locust's CPUs were {busy:.0f} % busy" + ("" if own is None else f" (locust itself {own:.0f} %)"))
    return found


def calibrated_ceiling(cell, setting: Setting) -> float | None:
    return ((setting.ceilings or {}).get(getattr(cell, "client", None)) or {}).get(cell.scenario)


def server_cores(cell, setting: Setting) -> int:
    """Cores the server's model can keep busy: one per serving process, at most its CPU set."""
    processes = max(cell.workers or 1, 1)
    return min(processes, setting.server_cpus) if setting.server_cpus else processes


def server_limit(figures: Mapping, cell, setting: Setting) -> Limit | None:
    """``server`` when its processes used 90 % of the cores they can use, or its CPUs were full."""
    cores = server_cores(cell, setting)
    used, busy = figures["server_cpu_pct"], figures.get("server_cores_busy_pct")
    waited = figures.get("server_wait_pct")
    what = "one process" if max(cell.workers or 1, 1) == 1 else f"{cell.workers} processes"
    cpus = plural(setting.server_cpus, "CPU") if setting.server_cpus else "CPU set unknown"
    if used >= SATURATED_PCT * cores:
        return Limit("server", f"server CPU {used:.0f} % of {plural(cores, 'core')} ({what}, {cpus})")
    full = busy is None or busy >= SATURATED_PCT  # threads queue on an idle core too (hand-offs, wake-ups)
    if waited is not None and used + waited >= SATURATED_PCT * cores and full:
        return Limit("server", f"server ran {used:.0f} % and waited {waited:.0f} % for a CPU (a core's time, "
                               f"summed over its threads), of {plural(cores, 'core')} ({what}, {cpus}): it "
                               "wanted them all")
    if waited is None and busy is not None and busy >= SATURATED_PCT and cores == setting.server_cpus:
        return Limit("server", f"the server's {plural(cores, 'CPU')} were {busy:.0f} % busy "
                               f"(server processes {used:.0f} % of {plural(cores, 'core')})")
    return None


def load_limit(figures: Mapping, cell, setting: Setting) -> Limit:
    """``load``: what set the rate when neither side was saturated, and both sides' CPU."""
    mean = (figures.get("latency_ms") or {}).get("mean")
    if cell.rate:
        cause = f"the fixed arrival rate of {cell.rate:,.0f} rps set the load"
    elif mean:
        cause = (f"{cell.users} users × {mean:.1f} ms mean latency cap the loop at "
                 f"{cell.users / mean * 1000:,.0f} rps")
    else:
        cause = f"{cell.users} users in a closed loop set the rate"
    if SERIAL_MODEL in (cell.server_model or ""):
        cause += (f"; {cell.server} serves {SERIAL_MODEL} per process, idle while each answer and the "
                  "next request travel")
    queued = figures.get("server_wait_pct")
    if queued is not None and queued >= SERVER_QUEUED_PCT:
        cause += (f"; the server's threads waited {queued:.0f} % of a core's time for a CPU while its CPUs "
                  f"were not full ({figures.get('server_cores_busy_pct') or 0:.0f} % busy): hand-offs between its "
                  "threads, not a full core")
    waited = figures.get("generator_wait_pct")
    sides = (f"server CPU {figures['server_cpu_pct']:.0f} % of {plural(server_cores(cell, setting), 'core')}, "
             f"locust {figures['generator_cpu_pct']:.0f} % of its core"
             + ("" if waited is None else f" (+{waited:.0f} % waiting for a CPU)"))
    return Limit("load", f"{cause}; {sides}")


def with_wrk_gap(limit: Limit, figures: Mapping, cell) -> Limit:
    """Say why locust's rps and wrk's differ by more than ``WRK_GAP_PCT`` at the same concurrency.

    A generator-bound cell needs no more words: wrk is there because locust could not keep up.
    Otherwise the reason is read off the figures: wrk's p99 far above locust's means its connections
    queued at the server (a short listen backlog); a server serving one request at a time waits on
    its client, so the faster client gets more; anything else is stated as not established."""
    rps, wrk = figures.get("rps"), figures.get("wrk_rps")
    if limit.label == "generator" or not rps or not wrk or abs(rps - wrk) / wrk * 100 <= WRK_GAP_PCT:
        return limit
    gap = f"wrk got {wrk:,.0f} rps at the same concurrency ({(rps - wrk) / wrk:+.0%} for locust)"
    p99, wrk_p99 = (figures.get("latency_ms") or {}).get("p99"), (figures.get("wrk_latency_ms") or {}).get("p99")
    if wrk < rps and p99 and wrk_p99 and wrk_p99 >= QUEUED_CONNECTIONS_FACTOR * p99:
        why = (f"wrk's p99 of {wrk_p99:,.0f} ms against locust's {p99:,.1f} ms shows its connections waiting "
               "in the server's listen queue (SYN retries beyond a short backlog)")
    elif wrk > rps and SERIAL_MODEL in (cell.server_model or ""):
        why = (f"{cell.server} waits on its client between requests, so wrk's C client, quicker to turn "
               "each one around, gets more from it")
    else:
        why = "the lab does not establish why; neither figure alone is this server's capacity"
    return Limit(limit.label, f"{limit.reason}; {gap}: {why}")


def caveats(limit: Limit, cell, setting: Setting) -> Limit:
    """Say what the decision could not check: shared CPUs, or no calibration to compare with."""
    reason = limit.reason
    if setting.ceilings is None:
        reason += "; no calibration, so the calibrated ceiling was not checked"
    if setting.shared_cpus:
        reason = (f"unreliable: server and locust share CPU {','.join(map(str, setting.shared_cpus))}, "
                  f"so either side's load shows on both; {reason}")
    return Limit(limit.label, reason)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
