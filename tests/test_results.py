"""The result document: round trip through JSON, atomic writes, run folders never reused."""

import datetime as dt
import errno
import json
import os
import subprocess
import sys

import pytest

from lab.results import SCHEMA_VERSION, Cell, ResultsError, Run, hand_over, load, new_run_dir, point_latest, save
from tests.conftest import ROOT


def sample_run() -> Run:
    cell = Cell(server="bjoern", scenario="plaintext", app="raw", status="ok", users=8, rps=1234.5,
                latency_ms={"p50": 0.25, "p99": 1.5}, repeats=[{"rps": 1234.5}],
                spread={"rps": {"n": 1, "median": 1234.5, "min": 1234.5, "max": 1234.5, "cv_pct": None}})
    failed = Cell(server="wsgiref", scenario="plaintext", app="raw", error="verify failed, not measured: x")
    return Run(meta={"run_id": "r1", "options": {"users": [8]}}, cells=[cell, failed])


def test_run_round_trips_through_json(tmp_path):
    run = sample_run()
    save(run, tmp_path)
    again = load(tmp_path)
    assert again.to_dict() == run.to_dict()
    assert again.cells[1].rps is None and again.cells[1].status == "failed"


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path):
    save(sample_run(), tmp_path)
    save(sample_run(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    assert json.loads((tmp_path / "results.json").read_text())["schema_version"] == SCHEMA_VERSION


#: Saves a document too big for the file size limit it sets: the write fails part-way (EFBIG).
SAVE_PAST_THE_LIMIT = """
import resource, signal, sys
from pathlib import Path
from lab.results import Run, save
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
try:
    save(Run(meta={"run_id": "second", "padding": "x" * 100_000}), Path(sys.argv[1]))
except OSError as exc:
    print(exc.errno)
"""


def test_a_save_that_fails_part_way_leaves_the_previous_document_whole(tmp_path):
    """A real failed write (the file size limit reached mid-write), not a simulated one: a plain
    ``write_text`` would leave 8 KiB of the new document in place of the old one."""
    save(sample_run(), tmp_path)
    before = (tmp_path / "results.json").read_bytes()
    result = subprocess.run([sys.executable, "-c", SAVE_PAST_THE_LIMIT, str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == str(errno.EFBIG), result.stderr
    assert (tmp_path / "results.json").read_bytes() == before
    assert load(tmp_path).meta["run_id"] == "r1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"], "the partial temporary file is removed"


def test_a_run_folder_is_never_reused(tmp_path):
    moment = dt.datetime(2026, 11, 26, 17, 30, tzinfo=dt.timezone.utc)
    first, second = new_run_dir(tmp_path, moment), new_run_dir(tmp_path, moment)
    assert first.name == "20261126T173000Z" and second.name == "20261126T173000Z-2"
    point_latest(second)
    assert (tmp_path / "latest").resolve() == second.resolve()


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("{not json", "is not a lab result document"),
    ('{"schema_version": 99, "meta": {}, "cells": []}', "schema version 99"),
])
def test_unusable_documents_are_refused_with_a_reason(tmp_path, content, message):
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    with pytest.raises(ResultsError, match=message):
        load(tmp_path)


def test_version_1_documents_still_load(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({
        "schema_version": 1, "meta": {}, "cells": [{"server": "bjoern", "scenario": "json", "app": "raw"}]}))
    (cell,) = load(tmp_path).cells
    assert cell.repeats == [] and cell.rate is None


def test_older_documents_get_their_limits_decided_by_today_s_rule(tmp_path):
    """Schema 2 named this cell "server" because locust's CPU was below 90 %; its server used 3 %
    of a core, and 32 users over 846 ms capped the loop (gunicorn sync on io, run 20261203T071910Z)."""
    figures = {"rps": 38.0, "latency_ms": {"mean": 845.901}, "server_cpu_pct": 3.2, "generator_cpu_pct": 5.1,
               "generator_cores_busy_pct": 60.0, "limit": "server"}
    (tmp_path / "results.json").write_text(json.dumps({
        "schema_version": 2, "meta": {"cpus": {"server": [0], "generator": [1]}},
        "cells": [{"server": "gunicorn", "scenario": "io", "app": "raw", "status": "ok", "users": 32, "workers": 1,
                   "server_model": "one request at a time per worker", "repeats": [dict(figures)], **figures}]}))
    (cell,) = load(tmp_path).cells
    assert cell.limit == "load" and cell.repeats[0]["limit"] == "load"
    assert cell.limit_reason.startswith("32 users × 845.9 ms mean latency cap the loop at 38 rps")
    assert cell.limit_reason.endswith("(decided on reading this schema 2 document)")


def test_the_fixture_runs_say_they_are_synthetic():
    """The documents under tests/data were written by hand for the report tests: they say so."""
    for path in sorted((ROOT / "tests" / "data").glob("*/results.json")):
        meta = json.loads(path.read_text())["meta"]
        assert meta.get("synthetic") is True and "hand-written" in meta.get("synthetic_note", ""), path


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a run over to another user needs root")
def test_a_run_written_as_root_is_handed_to_the_owner_of_the_results_folder(tmp_path):
    os.chown(tmp_path, 1000, 1000)  # as a host user's bind-mounted results/ looks to a container
    run_dir = new_run_dir(tmp_path, dt.datetime.now(dt.timezone.utc))
    point_latest(run_dir)
    save(sample_run(), run_dir)
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "server.log").write_text("x")
    hand_over(run_dir)
    for path in (run_dir, run_dir / "results.json", run_dir / "logs" / "server.log"):
        assert (path.stat().st_uid, path.stat().st_gid) == (1000, 1000), path
    assert (tmp_path / "latest").lstat().st_uid == 1000
