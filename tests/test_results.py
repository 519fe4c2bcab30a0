"""The result document: round trip through JSON, atomic writes, run folders never reused."""

import datetime as dt
import json
import os

import pytest

from lab.results import Cell, ResultsError, Run, hand_over, load, new_run_dir, point_latest, save


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
    assert json.loads((tmp_path / "results.json").read_text())["schema_version"] == 2


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
