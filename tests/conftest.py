"""Shared helpers: run the lab's CLI for real, in a subprocess, as a user would."""

import json
import subprocess
import urllib.error
import urllib.request
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_lab(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def results_of(out: Path) -> dict:
    return json.loads((out / "latest" / "results.json").read_text())


def fetch(url: str, method: str = "GET") -> tuple[int, str]:
    """Status and body; 0 when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=3) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


@pytest.fixture
def lab():
    return run_lab
