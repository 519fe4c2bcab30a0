"""Child processes the lab starts (servers, locust) and always reaps.

Each child runs with an explicit argv (no shell), a whitelisted environment, its output drained to
a log file (a pipe could fill and deadlock it), pinned to its CPU set with ``taskset`` and in a
session of its own, so that stopping it can reach every process it forked (gunicorn's workers,
bjoern's forks) and Ctrl-C on the terminal reaches only the lab, which then stops them in order:
SIGTERM to the group, wait, SIGKILL to the group, wait.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_WHITELIST = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


class ProcessError(Exception):
    """A child that could not start or did not become ready."""


#: Seconds a process may take to vanish after SIGKILL (the kernel reaps it at once unless it is
#: stuck in uninterruptible I/O).
KILL_TIMEOUT_S = 10.0

#: Environment variable naming the run folder in every child, so leftovers can be found and reaped.
RUN_TAG = "LAB_RUN_DIR"


def base_environment() -> dict[str, str]:
    """Only what a server needs, so the caller's environment cannot change what is measured."""
    env = {key: os.environ[key] for key in ENV_WHITELIST if key in os.environ}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def child_environment(run_dir: Path) -> dict[str, str]:
    """A server's environment, tagged with the run folder so leftovers can be found."""
    return {**base_environment(), RUN_TAG: str(run_dir)}


def pinned(argv: list[str], cpus: list[int]) -> list[str]:
    return ["taskset", "--cpu-list", ",".join(map(str, cpus)), *argv]


class Child:
    """One started process group; use as a context manager so it is always stopped."""

    def __init__(self, argv: list[str], cpus: list[int], log_path: Path, run_dir: Path):
        self.argv = argv
        self.log_path = log_path
        log = open(log_path, "ab")
        try:
            self.popen = subprocess.Popen(
                pinned(argv, cpus), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=child_environment(run_dir), cwd=PROJECT_ROOT, start_new_session=True)
        except OSError as exc:
            raise ProcessError(f"cannot start {argv[0]}: {exc}") from None
        finally:
            log.close()
        self.pid = self.popen.pid

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def processes(self) -> list[psutil.Process]:
        """The child and everything it forked that is still alive."""
        try:
            leader = psutil.Process(self.pid)
            return [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(log {self.log_path} unreadable: {exc})"
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> float:
        """SIGTERM the group, SIGKILL what is left after ``timeout``; returns seconds taken.

        Raises ``ProcessError`` when the group cannot be signalled or the leader outlives SIGKILL
        by ``KILL_TIMEOUT_S`` (a process stuck in the kernel): never a silent wait without end.
        """
        started = time.monotonic()
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            self._exited_within(timeout)
        self._signal_group(signal.SIGKILL)  # also reaps forks that outlived their parent
        if not self._exited_within(KILL_TIMEOUT_S):
            raise ProcessError(f"{self.argv[0]} (pid {self.pid}) still runs {KILL_TIMEOUT_S:g} s after SIGKILL")
        return time.monotonic() - started

    def _exited_within(self, timeout: float) -> bool:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _signal_group(self, signum: int) -> None:
        """Signal every process of the group; a group already gone has nothing left to signal."""
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            return
        except PermissionError as exc:
            raise ProcessError(f"cannot signal the process group of {self.argv[0]} (pid {self.pid}): {exc}") from None


def wait_for(child: Child, what: str, server, timeout: float) -> None:
    """Wait for ``child`` (locust, wrk) to exit 0; fail at once if the ``server`` it loads stops
    serving (``server.failure()``), or when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while child.exit_code() is None:
        failure = server.failure()
        if failure:
            raise ProcessError(f"{failure} during the {what} run; log: {server.log_tail()}")
        if time.monotonic() > deadline:
            raise ProcessError(f"{what} did not finish within {timeout:g} s; log: {child.log_tail()}")
        time.sleep(0.2)
    if child.exit_code() != 0:
        raise ProcessError(f"{what} exited with code {child.exit_code()}; log: {child.log_tail()}")


def leftovers(run_dir: Path) -> list[psutil.Process]:
    """Live processes started for ``run_dir`` (found by their ``LAB_RUN_DIR``): none once it ends."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if (proc.info["status"] != psutil.STATUS_ZOMBIE
                    and proc.environ().get(RUN_TAG) == str(run_dir)):
                found.append(proc)
        except psutil.Error:
            continue
    return found
