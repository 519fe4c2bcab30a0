"""Real, short benches through the CLI: real servers on 127.0.0.1, real locust, real reports."""

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from lab.process import leftovers
from tests.conftest import ROOT, results_of

#: The calibration and the common-rate step have tests of their own: these benches measure the matrix.
MATRIX_ONLY = ("--calibration", "off", "--compare-rate", "off")
SHORT = ("--duration", "2", "--warmup", "1", "--users", "8", "--wrk-duration", "1", *MATRIX_ONLY)
CELL_FIELDS = ("server", "scenario", "app", "status", "error", "requests", "failures", "rps", "latency_ms",
               "server_cpu_pct", "server_rss_mb", "generator_cpu_pct", "limit")


@pytest.mark.slow
def test_short_bench_over_every_server_and_scenario(lab, tmp_path):
    result = lab("bench", *SHORT, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    doc = results_of(tmp_path)
    cells = doc["cells"]
    assert {(c["server"], c["scenario"]) for c in cells} == {
        (server, scenario) for server in ("bjoern", "gunicorn", "waitress", "wsgiref")
        for scenario in ("plaintext", "json", "home", "signin", "mixed")}
    for cell in cells:
        assert set(CELL_FIELDS) <= set(cell)
        assert cell["status"] == "ok" and cell["error"] is None, cell["error"]
        assert cell["rps"] > 0 and cell["requests"] > 0 and cell["failures"] == 0, cell
        assert set(cell["latency_ms"]) >= {"p50", "p90", "p99", "p999", "max"}
        assert cell["latency_ms"]["p50"] <= cell["latency_ms"]["p99"] <= cell["latency_ms"]["max"]
        assert_limit_decided(cell, doc["meta"])
        assert cell["server_command"] and cell["verification"]["problems"] == []
        assert (tmp_path / "latest" / f"{cell['csv_prefix']}_stats.csv").is_file()
    meta = doc["meta"]
    assert meta["status"] == "complete" and meta["leftover_processes_killed"] == 0
    assert meta["servers"]["bjoern"]["version"] and meta["host"]["cpu_count"]
    assert meta["cpus"]["server"] != meta["cpus"]["generator"]
    for name in ("report.md", "report.html"):
        assert (tmp_path / "latest" / name).stat().st_size > 1000
    assert leftovers(tmp_path / "latest") == []


@pytest.mark.slow
def test_flask_flavour_is_measured_too(lab, tmp_path):
    result = lab("bench", *SHORT, "--app", "flask", "--servers", "gunicorn:gthread",
                 "--scenarios", "signin", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    (cell,) = results_of(tmp_path)["cells"]
    assert cell["app"] == "flask" and cell["status"] == "ok" and cell["failures"] == 0


def test_a_server_answering_wrongly_is_failed_and_not_measured(lab, tmp_path):
    result = lab("bench", *SHORT, "--servers", "waitress,bjoern", "--scenarios", "plaintext",
                 "--app", "tests.fixtureapps.wrong_body:application", "--out", str(tmp_path))
    assert result.returncode == 1, result.stderr[-3000:]
    cells = results_of(tmp_path)["cells"]
    assert [c["server"] for c in cells] == ["waitress", "bjoern"]
    for cell in cells:
        assert cell["status"] == "failed"
        assert cell["error"].startswith("verify failed, not measured")
        assert "GET /plaintext: body" in cell["error"]
        assert cell["rps"] is None and cell["requests"] is None and cell["latency_ms"] is None
        assert not list((tmp_path / "latest" / "locust").glob("*")), "locust must not have run"
    report = (tmp_path / "latest" / "report.md").read_text()
    assert "verify failed" in report


def test_missing_bjoern_is_reported_and_the_others_still_run(lab, tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "bjoern.py").write_text("raise ImportError('libev.so.4: cannot open shared object file (test)')\n")
    env = {**os.environ, "PYTHONPATH": f"{shim}{os.pathsep}{ROOT}"}
    result = lab("bench", *SHORT, "--servers", "bjoern,waitress", "--scenarios", "json", "--out",
                 str(tmp_path / "out"), env=env)
    assert result.returncode == 1, result.stderr[-3000:]
    doc = results_of(tmp_path / "out")
    bjoern, waitress = doc["cells"]
    assert bjoern["status"] == "failed" and "bjoern cannot be imported: libev.so.4" in bjoern["error"]
    assert bjoern["rps"] is None and not bjoern["server_command"]
    assert waitress["status"] == "ok" and waitress["rps"] > 0
    assert doc["meta"]["servers"]["bjoern"]["available"] is False
    assert "libev.so.4" in (tmp_path / "out" / "latest" / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_keeps_finished_cells_and_leaves_no_process(tmp_path, signum):
    bench = subprocess.Popen(
        [sys.executable, "-m", "lab", "bench", *MATRIX_ONLY, "--duration", "3", "--warmup", "1", "--users", "4",
         "--servers", "gunicorn,waitress", "--scenarios", "plaintext,json", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        results = tmp_path / "latest" / "results.json"
        if results.exists() and len(results_of(tmp_path)["cells"]) >= 1:
            break
        time.sleep(0.2)
    else:
        kill_bench(bench, tmp_path)
        pytest.fail("no cell finished in time")
    run_dir = (tmp_path / "latest").resolve()
    try:
        wait_for(lambda: under_load(run_dir, "lab.locust_child"), 60, "a later cell's load")
        finished = [(c["server"], c["scenario"], "ok") for c in results_of(tmp_path)["cells"]]
        bench.send_signal(signum)
        output, _ = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            kill_bench(bench, tmp_path)
    assert bench.returncode == 130, output
    doc = results_of(tmp_path)
    assert doc["meta"]["status"] == "interrupted"
    # the cells finished before the signal are kept, the one under load when it came is not
    assert [(c["server"], c["scenario"], c["status"]) for c in doc["cells"]] == finished
    assert 1 <= len(finished) < 4
    assert leftovers(run_dir) == []
    assert "interrupted" in (run_dir / "report.md").read_text().lower()
    assert os.path.exists(run_dir / "report.html")


def kill_bench(bench: subprocess.Popen, out) -> None:
    """A failing test's last resort: SIGKILL the bench, then what it could no longer reap."""
    bench.kill()
    output, _ = bench.communicate(timeout=30)
    print(output)  # shown with the failure: what the bench said before it was killed
    for run_dir in out.glob("2*"):
        for proc in leftovers(run_dir.resolve()):
            proc.kill()


def under_load(run_dir, client: str) -> bool:
    """A load generator of this run (``lab.locust_child``) holds an established connection: it is
    sending.  (A sync server's own connections last too short to be caught reliably.)"""
    for proc in leftovers(run_dir):
        try:
            if client in " ".join(proc.cmdline()) and any(
                    c.status == "ESTABLISHED" for c in proc.net_connections("tcp")):
                return True
        except psutil.NoSuchProcess:  # a process that just exited holds nothing
            continue
    return False


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)  # poll interval, against the deadline
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_server_killed_mid_cell_fails_that_cell_and_the_run_goes_on(tmp_path):
    bench = subprocess.Popen(
        [sys.executable, "-m", "lab", "bench", *MATRIX_ONLY, "--duration", "4", "--warmup", "1", "--users", "4",
         "--servers", "gunicorn,waitress", "--scenarios", "plaintext", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run_dir = wait_for(lambda: (tmp_path / "latest").exists() and (tmp_path / "latest").resolve(), 60,
                           "the run folder")
        wait_for(lambda: under_load(run_dir, "lab.locust_child"), 60, "the first cell's locust load")
        # the server under load now: gunicorn's or (on a starved machine) waitress's process group leader
        servers = [p for p in leftovers(run_dir) if "lab.locust_child" not in " ".join(p.cmdline())
                   and "wrk" not in p.name()]
        (leader,) = [p for p in servers if p.ppid() not in {q.pid for q in servers}]
        killed = "gunicorn" if "-m gunicorn" in " ".join(leader.cmdline()) else "waitress"
        leader.send_signal(signal.SIGKILL)
        output, _ = bench.communicate(timeout=120)
    finally:
        if bench.poll() is None:
            kill_bench(bench, tmp_path)
    assert bench.returncode == 1, output
    cells = {cell["server"]: cell for cell in results_of(tmp_path)["cells"]}
    assert set(cells) == {"gunicorn", "waitress"}  # the run went on past the killed server's cell
    assert cells[killed]["status"] == "failed"
    assert re.search(r"server exited with code -9 during the (locust|wrk) run", cells[killed]["error"])
    (other,) = [cell for name, cell in cells.items() if name != killed]
    assert other["status"] == "ok" and other["rps"] > 0
    assert leftovers(run_dir) == []


@pytest.mark.slow
def test_sweep_with_repeats_and_wrk_peak(lab, tmp_path):
    result = lab("bench", *MATRIX_ONLY, "--duration", "2", "--warmup", "1", "--users", "1,4", "--repeat", "2",
                 "--wrk-duration", "2", "--servers", "waitress", "--scenarios", "plaintext,home",
                 "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    doc = results_of(tmp_path)
    *cells, twin = doc["cells"]
    assert [(c["scenario"], c["users"]) for c in cells] == [("plaintext", 1), ("plaintext", 4), ("home", 1), ("home", 4)]
    assert twin["aa_twin"] and (twin["scenario"], twin["users"]) == ("plaintext", 1), "the first cell, twice"
    assert doc["meta"]["noise_floor"]["rps_diff_pct"] is not None
    assert isinstance(doc["meta"]["options"]["seed"], int)
    for cell in cells:
        assert cell["status"] == "ok" and len(cell["repeats"]) == 2
        spread = cell["spread"]["rps"]
        assert spread["n"] == 2 and spread["min"] <= cell["rps"] <= spread["max"]
        assert set(cell["latency_ms"]) >= {"p50", "p90", "p99", "p999", "p9999", "max"}
    for cell in cells:  # wrk measures every scenario at the same concurrency
        assert cell["wrk_rps"] > 0 and cell["wrk_errors"] == 0 and cell["wrk_latency_ms"]["p99"] > 0
        assert all(r["wrk_rps"] > 0 for r in cell["repeats"])


@pytest.mark.slow
def test_fixed_rate_mode_counts_latency_from_the_intended_start(lab, tmp_path):
    result = lab("bench", *MATRIX_ONLY, "--duration", "2", "--warmup", "1", "--users", "4", "--rate", "200", "--wrk", "off",
                 "--servers", "bjoern", "--scenarios", "json", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    (cell,) = results_of(tmp_path)["cells"]
    assert cell["status"] == "ok" and cell["rate"] == 200.0 and cell["failures"] == 0
    assert cell["requests"] > 0 and cell["latency_ms"]["p50"] > 0
    assert cell["wrk_note"] == "wrk turned off (--wrk off)"


@pytest.mark.slow
def test_latency_behind_a_schedule_the_server_cannot_keep_counts_from_the_intended_start(lab, tmp_path):
    """gunicorn sync with one worker serves /io (20 ms) at most 50 times a second; asked for 200, every
    request starts later than intended, by more and more.  Counted from the intended start the
    latency includes that wait; locust's own figure (from the actual send) does not."""
    result = lab("bench", *MATRIX_ONLY, "--duration", "3", "--warmup", "1", "--users", "4", "--rate", "200", "--wrk", "off",
                 "--workers", "1", "--servers", "gunicorn", "--scenarios", "io", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    (cell,) = results_of(tmp_path)["cells"]
    assert cell["rps"] < 0.5 * cell["rate"], "the schedule was not kept"
    assert cell["latency_ms"]["p50"] > 2 * cell["locust_latency_ms"]["p50"], (cell["latency_ms"], cell["locust_latency_ms"])
    assert cell["limit"] == "load" and cell["limit_reason"].startswith("the fixed arrival rate of 200 rps")


def assert_limit_decided(cell: dict, meta: dict) -> None:
    """Every measured cell names one limit with its reason, the one ``lab.limits`` gives its figures."""
    from lab import limits
    from lab.results import Cell

    decided = limits.decide(cell, Cell(**{k: v for k, v in cell.items() if k in Cell.__dataclass_fields__}),
                            limits.Setting.of(meta))
    assert cell["limit"] in ("generator", "server", "load"), cell["limit_reason"]
    assert (cell["limit"], cell["limit_reason"]) == (decided.label, decided.reason)
    for sampled in ("server_cpu_pct", "server_wait_pct", "generator_cpu_pct", "generator_wait_pct",
                    "server_cores_busy_pct", "generator_cores_busy_pct"):
        assert cell[sampled] is not None, sampled


def test_a_server_that_cannot_import_its_app_is_refused_before_anything_starts(lab, tmp_path):
    result = lab("bench", *SHORT, "--servers", "gunicorn,waitress", "--scenarios", "plaintext",
                 "--app", "tests.fixtureapps.no_such_module:application", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "No module named 'tests.fixtureapps.no_such_module'" in result.stderr
    assert not (tmp_path / "latest").exists(), "nothing is started or written"


def test_a_server_whose_port_stays_taken_fails_with_the_reason(tmp_path, monkeypatch):
    import socket

    import servers
    from lab import local
    from lab.config import BenchOptions
    from lab.results import CellFailed

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(local, "free_port", lambda host: port)
        options = BenchOptions(server_cpus=[0], workers=[1], start_timeout=10)
        server = local.LocalServer(servers.discover()["bjoern"], options, tmp_path / "log", tmp_path)
        with pytest.raises(CellFailed, match="Address already in use") as failed:
            with server:
                pass
    assert str(failed.value).count(f"port {port} was taken") == local.PORT_ATTEMPTS - 1
    assert leftovers(tmp_path) == []


def test_a_port_taken_before_the_server_binds_it_is_retried_and_the_retry_recorded(tmp_path, monkeypatch):
    """The race of binding port 0, closing and reusing the port: someone binds it in between."""
    import socket

    import servers
    from lab import local
    from lab.config import BenchOptions

    real_free_port = local.free_port
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        ports = iter([thief.getsockname()[1]])
        monkeypatch.setattr(local, "free_port", lambda host: next(ports, None) or real_free_port(host))
        options = BenchOptions(server_cpus=[0], workers=[1], start_timeout=10)
        server = local.LocalServer(servers.discover()["waitress"], options, tmp_path / "log", tmp_path)
        with server:
            assert server.port != thief.getsockname()[1]
            (note,) = server.notes
            assert note.startswith(f"port {thief.getsockname()[1]} was taken before the server bound it")
            assert "Address already in use" in note and f"started again on port {server.port}" in note
            assert str(server.port) in " ".join(server.command)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name, workers, serving", [("gunicorn", 2, 2), ("bjoern", 2, 2), ("waitress", 1, 1),
                                                     ("gunicorn:gevent", 2, 2)])
def test_ready_means_every_worker_listens_on_the_server_s_own_socket_and_answered(tmp_path, name, workers, serving):
    """gunicorn's master hands its socket to 2 workers, bjoern forks 2 listeners: ready only once
    all of them listen on a socket of the server's own processes, and each answered a request.
    A busy sync worker cannot take a held connection, and bjoern's kernel hashing reaches both
    within 16 connections but for a chance of 2 in 2**16: those two must answer every time.  Which
    gevent worker accepts is the kernel's choice, so there a worker that got no connection may be
    a note."""
    import servers
    from lab import local
    from lab.config import BenchOptions

    options = BenchOptions(server_cpus=[0], workers=[workers], start_timeout=20)
    with local.LocalServer(servers.discover()[name], options, tmp_path / "log", tmp_path, workers=workers) as server:
        found = local.serving(server.child.processes(), server.port)
        assert len(found) == serving
        assert found <= {proc.pid for proc in server.child.processes()}
        if name != "gunicorn:gevent":
            assert server.notes == [], server.notes
        assert all(note.startswith("1 of 2 workers answered") for note in server.notes)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("reply, answered", [(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
                                             (b"", False), (b"SSH-2.0-OpenSSH\r\n", False)])
def test_a_worker_answered_only_when_an_http_reply_came_back(reply, answered):
    import socket

    from lab import local

    ours, server_side = socket.socketpair()
    with ours, server_side:
        server_side.sendall(reply)
        server_side.shutdown(socket.SHUT_WR)  # the reply, then the end of it, as a server closing
        assert local.answers(ours) is answered


@pytest.mark.slow
def test_a_round_that_fails_after_a_measured_one_is_recorded_and_the_cell_keeps_its_rounds(lab, tmp_path):
    """Round 1 measures the cell and its A/A twin (two starts); every later start fails to import."""
    result = lab("bench", *MATRIX_ONLY, "--wrk", "off", "--duration", "1", "--warmup", "0.5", "--users", "2",
                 "--repeat", "2", "--servers", "waitress", "--scenarios", "plaintext",
                 "--app", "tests.fixtureapps.fails_from_third_start:application", "--out", str(tmp_path))
    assert result.returncode == 1, result.stderr  # a failed round is a failure of the run
    cells = results_of(tmp_path)["cells"]
    assert len(cells) == 2  # the cell and its A/A twin
    for cell in cells:
        assert cell["status"] == "ok" and cell["error"] is None
        assert len(cell["repeats"]) == 1 and cell["rps"] > 0
        (failed,) = cell["failed_rounds"]
        assert failed["round"] == 2 and "third start" in failed["reason"]
    assert "round failed" in result.stderr
