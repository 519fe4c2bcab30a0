"""A page to watch a bench while it runs (``--live PORT``; the compose runner publishes it).

``/`` lists the cells finished so far, read from the run's ``results.json`` (rewritten after every
cell), says which cell is in progress, and links to locust's web UI of that cell (read-only, on
PORT + 1, served by ``lab.locust_child`` while the cell's load runs).  ``/report`` renders the
partial report on demand; ``/run/...`` serves the run folder as it is.

It is a thread of the bench process using ``http.server``: no dependency, idle while nobody looks.
The one costly thing it does, rendering a report (charts), happens only when someone asks for it,
in a child process at the lowest priority (the generator's CPUs are busy measuring), into a folder
of its own so it can never overwrite the run's final reports.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lab.config import ConfigError
from lab.process import PROJECT_ROOT

#: locust's web UI of the cell in progress listens on the live port + this.
LOCUST_UI_OFFSET = 1
#: Where the page sends people for locust's web UI, when the published port is not the live port + 1.
LOCUST_UI_URL_ENV = "LAB_LOCUST_UI_URL"
REPORT_TIMEOUT_S = 180.0
REFRESH_S = 5


def locust_ui_port(live_port: int) -> int | None:
    """The port ``lab.locust_child`` serves its web UI on, or None when the run is not watched."""
    return live_port + LOCUST_UI_OFFSET if live_port else None


def bind_address(mode: str) -> str:
    """Loopback for a local run; every interface in a container (compose publishes the port on the
    host's loopback only)."""
    return "0.0.0.0" if mode == "containers" else "127.0.0.1"


class LiveProgress:
    """The terminal progress of a bench, plus the live page that shows it; ``close`` stops both."""

    def __init__(self, progress, out: Path, port: int, address: str):
        self.inner = progress
        self.latest = out / "latest"
        self.run_dir: Path | None = None
        self.label, self.now = "", "starting"
        self.partial = Path(tempfile.mkdtemp(prefix="lab-live-"))
        self.render_lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((address, port), handler_for(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="lab-live", daemon=True)
        self.thread.start()

    def __getattr__(self, name):  # console and anything else the CLI uses
        return getattr(self.inner, name)

    def cell_started(self, index: int, total: int, label: str) -> None:
        self.run_dir = self.latest.resolve()  # the bench points results/latest at its run first
        self.label = self.now = f"[{index}/{total}] {label}"
        self.inner.cell_started(index, total, label)

    def stage(self, text: str) -> None:
        self.now = f"{self.label}: {text}"
        self.inner.stage(text)

    def cell_finished(self, cell) -> None:
        self.now = "between cells"
        self.inner.cell_finished(cell)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.partial, ignore_errors=True)
        self.inner.close()

    def document(self) -> dict:
        """results.json of the run in progress as last written ({} before the first cell)."""
        if self.run_dir is None:
            return {}
        try:
            return json.loads((self.run_dir / "results.json").read_text())
        except (OSError, ValueError) as exc:  # shown on the page; the next refresh reads it again
            return {"meta": {"status": f"results.json unreadable: {exc}"}}

    def render_partial_report(self) -> str | None:
        """Render the report of the cells finished so far into ``self.partial``; the error, if any."""
        if self.run_dir is None:
            return "no cell has started yet"
        with self.render_lock:
            source, copy = self.run_dir / "results.json", self.partial / "results.json"
            if copy.exists() and copy.stat().st_mtime >= source.stat().st_mtime:
                return None
            shutil.copy2(source, copy)
            argv = ["nice", "-n", "19", sys.executable, "-m", "lab", "report", str(self.partial)]
            try:
                result = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True,
                                        timeout=REPORT_TIMEOUT_S, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                copy.unlink()
                return f"rendering took over {REPORT_TIMEOUT_S:g} s"
            if result.returncode != 0:
                copy.unlink()
                return (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
            return None


def cell_row(cell: dict) -> str:
    p99 = (cell.get("latency_ms") or {}).get("p99")
    figures = [cell.get("rps"), cell.get("wrk_rps"), p99]
    shown = ["—" if value is None else f"{value:,.1f}" for value in figures]
    note = cell.get("error") if cell.get("status") != "ok" else cell.get("limit_reason")
    cells = [cell.get("server"), cell.get("scenario"), cell.get("users"), cell.get("status"), *shown,
             cell.get("limit") or "—", note or ""]
    return "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in cells) + "</tr>"


def index_page(live: LiveProgress, host: str) -> str:
    doc = live.document()
    meta, cells = doc.get("meta") or {}, doc.get("cells") or []
    locust_url = os.environ.get(LOCUST_UI_URL_ENV) or f"http://{host}:{live.httpd.server_port + LOCUST_UI_OFFSET}/"
    rows = "\n".join(cell_row(cell) for cell in cells)
    head = "".join(f"<th>{name}</th>" for name in ("server", "scenario", "users", "status", "rps", "wrk rps",
                                                   "p99 ms", "limit", "reason"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{REFRESH_S}">
<title>lab run {html.escape(str(meta.get('run_id', '')))}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}
tr:nth-child(even){{background:#f3f3f3}}</style></head><body>
<h1>run {html.escape(str(meta.get('run_id', '…')))} ({html.escape(str(meta.get('status', 'starting')))})</h1>
<p>Now: <b>{html.escape(live.now)}</b>. Live charts of the cell in progress: <a href="{html.escape(locust_url)}">locust's
web UI</a> (read-only; up while a cell's load runs).</p>
<p><a href="/report">Partial report</a> of the {len(cells)} cell(s) finished so far (rendered when asked, at low
priority) · <a href="/run/results.json">results.json</a> · <a href="/status.json">status.json</a></p>
<table><tr>{head}</tr>
{rows}</table></body></html>"""


def handler_for(live: LiveProgress):
    class Handler(SimpleHTTPRequestHandler):
        """``/``, ``/status.json``, ``/report``; files below ``/run/`` and ``/partial/``."""

        def do_GET(self):  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/":
                return self.send_text(index_page(live, self.headers.get("Host", "127.0.0.1").split(":")[0]),
                                      "text/html")
            if path == "/status.json":
                doc = live.document()
                status = {"run_id": (doc.get("meta") or {}).get("run_id"), "now": live.now,
                          "status": (doc.get("meta") or {}).get("status"), "cells": len(doc.get("cells") or [])}
                return self.send_text(json.dumps(status), "application/json")
            if path == "/report":
                error = live.render_partial_report()
                if error:
                    return self.send_text(f"no partial report: {error}", "text/plain", HTTPStatus.SERVICE_UNAVAILABLE)
                self.send_response(HTTPStatus.SEE_OTHER)
                self.send_header("Location", "/partial/report.html")
                self.end_headers()
                return None
            return super().do_GET()

        def translate_path(self, path: str) -> str:
            """``/run/x`` -> the run folder's x, ``/partial/x`` -> the partial report's; nothing else."""
            roots = {"run": live.run_dir, "partial": live.partial}
            prefix, _, rest = path.lstrip("/").partition("/")
            root = roots.get(prefix)
            if root is None:
                return "/nonexistent"
            self.directory = str(root)
            return super().translate_path("/" + rest)

        def send_text(self, text: str, kind: str, status: HTTPStatus = HTTPStatus.OK) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - keep the bench's terminal clean
            return

    return Handler


def watched(progress, options):
    """The bench's progress, with the live page when ``--live`` asks for one."""
    if not options.live:
        return progress
    address = bind_address(options.mode)
    try:
        return LiveProgress(progress, options.out, options.live, address)
    except OSError as exc:
        raise ConfigError(f"--live {options.live}: cannot listen on {address}:{options.live}: {exc}") from None
