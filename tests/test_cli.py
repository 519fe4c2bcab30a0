"""The command line as a user meets it: one clear line and exit 2 for bad input; re-rendering."""

import shutil

import pytest

from lab import config
from tests.conftest import ROOT


#: If a check let a bad option through, the bench it starts ends quickly (and the test fails).
ONE_SHORT_CELL = ("--servers", "wsgiref", "--scenarios", "plaintext", "--duration", "1", "--warmup", "0", "--wrk", "off")


@pytest.mark.parametrize("args, message", [
    (("--servers", "nosuch"), "unknown server nosuch (known: bjoern, "),
    (("--scenarios", "plaintext,nope"), "unknown scenario nope"),
    (("--users", "many"), "--users 'many'"),
    (("--users", "0"), "--users '0'"),
    (("--server-cpus", "99"), "not available to this process"),
    (("--no-such-flag",), "unrecognized arguments: --no-such-flag"),
    (("--app", "nosuch:thing", *ONE_SHORT_CELL), "--app nosuch:thing: nosuch:thing cannot be served: ModuleNotFoundError"),
    (("--app", "tests.fixtureapps.wrong_body:nothing"), "has no attribute 'nothing'"),
    (("--server-cpus", "0", "--generator-cpus", "0", *ONE_SHORT_CELL), "share CPU 0: pass --share-cpus on"),
    (("--host", "10.0.0.1"), "is not a loopback address"),
    (("--start-timeout", "0", *ONE_SHORT_CELL), "--start-timeout must be above 0 seconds"),
    (("--locust-workers", "-1", *ONE_SHORT_CELL), "--locust-workers cannot be negative"),
])
def test_bad_options_give_one_line_and_exit_2(lab, args, message, tmp_path):
    result = lab("bench", *args, "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("lab: error: "), result.stderr
    assert message in result.stderr
    assert not (tmp_path / "latest").exists(), "nothing is measured or written"


def test_report_rerenders_a_stored_run(lab, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(ROOT / "tests" / "data" / "sample_run", run)
    for name in ("report.md", "report.html"):
        (run / name).unlink(missing_ok=True)
    result = lab("report", str(run))
    assert result.returncode == 0, result.stderr
    assert (run / "report.md").read_text().startswith("#")
    assert "<svg" in (run / "report.html").read_text()


def test_report_of_a_folder_without_results_is_a_usage_error(lab, tmp_path):
    result = lab("report", str(tmp_path))
    assert result.returncode == 2 and "results.json does not exist" in result.stderr


def test_compare_refuses_an_existing_output_folder_unless_forced(lab, tmp_path):
    for name in ("a", "b"):
        shutil.copytree(ROOT / "tests" / "data" / "sample_run", tmp_path / name)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    refused = lab("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "already exists: pass --force" in refused.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    forced = lab("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (out / "compare.md").is_file()


def test_readme_lists_every_bench_option_as_generated():
    assert config.options_markdown() in (ROOT / "README.md").read_text()


def test_shared_cpus_are_accepted_only_when_asked_for():
    """A 1-CPU machine can still measure with ``--share-cpus on``; its limits then say unreliable."""
    config.check_cpus([0], [0], "on")
    config.check_cpus([0], [1], "off")
    with pytest.raises(config.ConfigError, match="share CPU 0"):
        config.check_cpus([0, 1], [0], "off")
