"""``--live PORT``: a real local bench watched through its live page and locust's web UI."""

import io
import json
import socket
import subprocess
import sys
import time

from rich.console import Console

from lab import live
from lab.console import TerminalProgress
from tests.conftest import ROOT, fetch


def free_port_pair() -> int:
    """A port whose next port is free too (the live page and locust's web UI)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two consecutive free ports")


def test_a_bench_is_watchable_live_and_locust_ui_is_read_only(tmp_path):
    port = free_port_pair()
    page, ui = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    argv = [sys.executable, "-m", "lab", "bench", "--servers", "bjoern,waitress", "--scenarios", "plaintext",
            "--users", "4", "--duration", "3", "--warmup", "1", "--wrk", "off", "--compare-rate", "off",
            "--calibration", "off", "--out", str(tmp_path), "--live", str(port)]
    bench = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    statuses, ui_answered, stop_refused, index, served = [], False, False, "", 0
    deadline = time.monotonic() + 180
    try:
        while bench.poll() is None:
            assert time.monotonic() < deadline, "the bench ran over 3 min"
            code, body = fetch(f"{page}/status.json")
            if code == 200:
                statuses.append(json.loads(body))
                if statuses[-1]["cells"] >= 1 and not index:
                    index = fetch(f"{page}/")[1]
                    served = fetch(f"{page}/run/results.json")[0]
            if not ui_answered and fetch(f"{ui}/")[0] == 200:
                ui_answered = True
                stop_refused = fetch(f"{ui}/stop", method="POST")[0] == 403
            time.sleep(0.3)
    finally:
        if bench.poll() is None:
            bench.kill()
    output = bench.stdout.read()
    assert bench.returncode == 0, output[-3000:]
    run_id = json.loads((tmp_path / "latest" / "results.json").read_text())["meta"]["run_id"]
    assert statuses and {status["run_id"] for status in statuses} - {None} == {run_id}  # None: "starting"
    assert any("bjoern × plaintext" in status["now"] for status in statuses)
    assert "bjoern" in index and "plaintext" in index and f":{port + 1}/" in index and served == 200
    assert ui_answered and stop_refused, "locust's web UI answered during a cell and refused a stop"
    assert fetch(f"{page}/status.json")[0] == 0, "the page stops with the bench"


def test_partial_report_renders_beside_the_run_never_over_it(tmp_path, lab):
    result = lab("bench", "--servers", "bjoern", "--scenarios", "plaintext", "--users", "4", "--duration", "1",
                 "--warmup", "0", "--wrk", "off", "--compare-rate", "off", "--calibration", "off",
                 "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = (tmp_path / "latest").resolve()
    before = (run_dir / "report.md").stat().st_mtime_ns
    progress = TerminalProgress(1.0, Console(file=io.StringIO()))
    watched = live.LiveProgress(progress, tmp_path, free_port_pair(), "127.0.0.1")
    try:
        watched.cell_started(1, 1, "bjoern × plaintext")
        assert watched.render_partial_report() is None
        assert "bjoern" in (watched.partial / "report.md").read_text()
        code, body = fetch(f"http://127.0.0.1:{watched.httpd.server_port}/partial/report.md")
        assert code == 200 and "bjoern" in body
        assert fetch(f"http://127.0.0.1:{watched.httpd.server_port}/partial/../../etc/passwd")[0] == 404
    finally:
        watched.close()
    assert (run_dir / "report.md").stat().st_mtime_ns == before
    assert not watched.partial.exists()
