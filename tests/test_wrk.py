"""wrk's generated Lua scripts, run by real wrk against real servers on loopback: every scenario's
answers pass, and a wrong answer is counted as a mismatch and never as a request."""

import shutil
import subprocess

import pytest

from lab import wrk
from lab.wrk import script
from loadtests import NAMES

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


@pytest.fixture
def bjoern(serve):
    """bjoern serving a WSGI target on a free loopback port; a function target -> base URL."""
    return lambda target: serve("bjoern", target) + "/"


def run_wrk(url: str, scenario: str, folder) -> dict:
    argv = wrk.wrk_argv(url, script.write(scenario, folder), connections=4, threads=1, duration=1)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return wrk.parse(done.stdout)


@pytest.mark.parametrize("scenario", NAMES)
def test_every_scenario_passes_against_the_app(bjoern, scenario, tmp_path):
    raw = run_wrk(bjoern("app:application"), scenario, tmp_path)
    assert raw["requests"] > 0
    assert raw["mismatches"] == 0 and raw["checked"] == raw["requests"]
    assert wrk.figures(raw)["wrk_rps"] > 0


@pytest.mark.parametrize("scenario", ["plaintext", "signin", "mixed", "upload"])
def test_a_wrong_body_is_a_mismatch_not_a_request(bjoern, scenario, tmp_path):
    raw = run_wrk(bjoern("tests.fixtureapps.wrong_body:application"), scenario, tmp_path)
    assert raw["requests"] > 0 and raw["mismatches"] == raw["requests"]
    figures = wrk.figures(raw)
    assert figures["wrk_rps"] == 0 and figures["wrk_mismatches"] == raw["requests"]


def test_a_swapped_answer_is_caught_by_counting_answers_against_requests(bjoern, tmp_path):
    raw = run_wrk(bjoern("tests.fixtureapps.swapped_answers:application"), "mixed", tmp_path)
    # 3 in 11 requests are /json, all answered with the plaintext body: at least those beyond the
    # plaintext requests actually sent are mismatches (the rest are indistinguishable).
    assert raw["mismatches"] > raw["requests"] * 0.2


def test_lua_strings_escape_every_byte():
    assert script.lua_string(b'a"\\\n\x00\xff') == '"a\\034\\092\\010\\000\\255"'


class Served:
    """What ``lab.wrk.measure`` needs of a server: where it is, and whether it still runs."""

    def __init__(self, url: str):
        self.host, self.port = url.split("//")[1].rstrip("/").split(":")

    def failure(self):
        return None

    def log_tail(self):
        return ""


@pytest.mark.parametrize("scenario", ["plaintext", "signin"])
def test_the_lab_peak_counts_only_right_answers(bjoern, scenario, tmp_path):
    """plaintext: an unchecked peak, trusted after a checked run; signin: one checked run."""
    right = wrk.measure(Served(bjoern("app:application")), scenario, 4, [1], 1, tmp_path / "a.log", tmp_path)
    assert right["wrk_rps"] > 0 and right["wrk_mismatches"] == 0 and right["wrk_checked"] > 0
    assert "wrk_note" not in right
    wrong = wrk.measure(Served(bjoern("tests.fixtureapps.wrong_body:application")), scenario, 4, [1], 1,
                        tmp_path / "b.log", tmp_path)
    assert wrong["wrk_rps"] == 0 and wrong["wrk_mismatches"] == wrong["wrk_checked"] > 0
    if script.checks_apart(scenario):
        assert "answers were wrong under load" in wrong["wrk_note"]
