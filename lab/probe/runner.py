"""Start servers, run probes on them, collect the results as plain data.

Each behaviour probe gets a fresh server (a probe can crash or wedge one, and must not spoil the
next); the parsing probes share one server, restarted if a case killed it.  Every server runs the
probe app (:data:`PROBE_APP`).  Container servers (``--mode containers``) are shared by every probe,
run whatever app their service was started with, and cannot take ``sigterm-under-load``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

from lab.probe import checks, corpus, parsing
from lab.probe.checks import BEHAVIOUR, ERROR, FAILS, NEEDS_PROCESS, ProbeResult, ProbeSettings
from lab.probe.client import NoReply, exchange, request
from lab.probe.parsing import PARSING

PROBE_APP = "lab.probe.app:application"
#: Every probe, in matrix order (the matrix's rows): behaviour first, then request parsing.
PROBES: dict[str, Callable] = {**BEHAVIOUR, **PARSING}
#: Each probe's "what it means for you" line, for the report's matrix.
MEANING: dict[str, str] = {**checks.MEANING, **parsing.MEANING}


class NotStarted(Exception):
    """The server could not be started, or does not run the probe app: every probe on it is an error."""


def log_path(run_dir: Path, server_name: str, what: str) -> Path:
    """``run_dir/logs/<server>.probe-<what>.log`` (``gunicorn:gthread`` becomes ``gunicorn-gthread``)."""
    return Path(run_dir) / "logs" / f"{server_name.replace(':', '-')}.probe-{what}.log"


def check_names(probes: list[str] | None) -> list[str]:
    names = list(PROBES) if probes is None else list(probes)
    unknown = [name for name in names if name not in PROBES]
    if unknown:
        raise ValueError(f"unknown probe {', '.join(unknown)} (known: {', '.join(PROBES)})")
    return names


@contextlib.contextmanager
def started(start: Callable[[Path], object], path: Path) -> Iterator[object]:
    """A server from ``start(log_path)`` that answers as the probe app; stopped on exit.

    Raises :class:`NotStarted` with the reason when it does not start or serves another app.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = start(path)
        server.__enter__()  # cleans up after itself when it fails
    except Exception as exc:  # noqa: BLE001 - CellFailed, ProcessError, a backend's own errors
        raise NotStarted(f"the server could not be started: {exc}") from None
    try:
        problem = probe_app_problem(server)
        if problem:
            raise NotStarted(problem)
        yield server
    finally:
        server.__exit__(None, None, None)


def probe_app_problem(server) -> str | None:
    """Why ``server`` is not serving the probe app (its echo), or None."""
    try:
        reply = exchange(server.host, server.port, request("GET", "/probe-app"), timeout=5.0)
    except NoReply as exc:
        return f"the server did not answer GET /probe-app: {exc}"
    if reply.echo() is None:
        return (f"the server does not run the probe app ({PROBE_APP}): GET /probe-app got {reply.status}; "
                "containers must be started with LAB_APP set to it")
    return None


def attempt(name: str, server, settings: ProbeSettings) -> ProbeResult:
    """Run one probe on a running server; a probe's fault becomes a result, never an exception."""
    if name in NEEDS_PROCESS and getattr(server, "child", None) is None:
        return ProbeResult(name, ERROR, "local only", "this probe signals the server's own process, "
                           "which only local runs start.", {})
    try:
        return PROBES[name](server, settings)
    except NoReply as exc:
        return ProbeResult(name, FAILS, exc.word(), f"the probe's request got no reply: {exc}.",
                           {"no_reply": exc.kind})
    except Exception as exc:  # noqa: BLE001 - a probe's own bug is data, not a crash of the matrix
        return ProbeResult(name, ERROR, "probe error", f"{exc.__class__.__name__}: {exc}", {})


def not_started(name: str, reason: str) -> ProbeResult:
    return ProbeResult(name, ERROR, "did not start", reason, {})


def run_alone(name: str, start, path: Path, settings: ProbeSettings) -> ProbeResult:
    """One probe on a fresh server of its own."""
    try:
        with started(start, path) as server:
            return attempt(name, server, settings)
    except NotStarted as exc:
        return not_started(name, str(exc))


def run_shared(items: list, start, path: Path, run: Callable, failed: Callable) -> Iterator:
    """``run(server, item)`` for each item in turn on one server, restarted when an item left it dead.

    When the server does not start, every item left gets ``failed(item, reason)`` instead.
    """
    pending = list(items)
    while pending:
        try:
            with started(start, path) as server:
                while pending and not server.failure():
                    yield run(server, pending.pop(0))
        except NotStarted as exc:
            yield from (failed(item, str(exc)) for item in pending)
            return


def starter(config, options, backend, run_dir: Path) -> Callable[[Path], object]:
    """``start(log_path)``: a server of ``config`` serving the probe app, at the first workers/threads step."""
    options = dataclasses.replace(options, app=PROBE_APP)

    def start(path: Path):
        return backend.server(config, options, options.workers[0], options.threads[0], path, Path(run_dir))

    return start


def replay_corpus(config, options, backend, run_dir: Path, folder: Path, progress=None) -> dict:
    """Every ``.http`` file of ``folder`` sent to one server of ``config``: ``{"tally": ..., "results": [...]}``."""
    entries = corpus.load(folder)
    if progress is not None:
        progress.stage(f"corpus: {len(entries)} files")
    results = list(run_shared(entries, starter(config, options, backend, run_dir),
                              log_path(run_dir, config.name, "corpus"), lambda server, entry: corpus.replay(entry, server),
                              lambda entry, reason: {"file": entry.name, "expect": entry.expect, "kind": "error",
                                                     "answers": [reason], "as_expected": None}))
    return {"tally": corpus.tally(results), "results": results}


def probe_server(config, options, backend, run_dir: Path, progress=None, probes: list[str] | None = None,
                 settings: ProbeSettings = ProbeSettings()) -> list[dict]:
    """Every probe (or ``probes``) on servers of ``config`` from ``backend``, as plain dicts in matrix order.

    ``backend.server(config, options, workers, threads, log_path, run_dir)`` gives the servers (the
    first workers/threads step, serving :data:`PROBE_APP`); ``progress.stage(text)`` is told which
    probe runs.  Never raises for a server's or a probe's fault: those are ``error`` results.
    """
    names = check_names(probes)
    start = starter(config, options, backend, run_dir)

    def stage(index: int, name: str) -> None:
        if progress is not None:
            progress.stage(f"probe {index}/{len(names)}: {name}")

    results = []
    for index, name in enumerate([n for n in names if n in BEHAVIOUR], 1):
        stage(index, name)
        results.append(run_alone(name, start, log_path(run_dir, config.name, name), settings))
    shared = [n for n in names if n in PARSING]
    if shared:
        stage(len(results) + 1, f"{len(shared)} request-parsing cases")
        results.extend(run_shared(shared, start, log_path(run_dir, config.name, "parsing"),
                                  lambda server, name: attempt(name, server, settings), not_started))
    order = {name: index for index, name in enumerate(names)}
    return [dataclasses.asdict(result) for result in sorted(results, key=lambda r: order[r.probe])]
