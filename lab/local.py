"""Servers the lab starts itself as local process groups, one per cell, on a free loopback port.

The port is found by binding port 0 and closing, so another process can take it before the server
binds it (a race the lab cannot close without handing every server an open socket).  A server that
fails on a taken port is started again on a new port, up to ``PORT_ATTEMPTS`` times, and each
retry is kept in ``notes`` with its reason.

Ready means: the server answered ``GET /plaintext``; the socket listening on its port belongs to
one of its own processes (not to whoever took the port); and every serving process it should have
(``--workers`` for servers that fork) holds that listening socket.  A serving process is one that
listens on the port and has no listening child (gunicorn's master only hands its socket down;
bjoern's parent holds none).  A worker that has its socket but is still importing the app cannot be
told apart from outside: the warm-up, not counted, covers it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import sys
import time

import psutil

import app
from lab.process import Child
from lab.results import CellFailed
from lab.sampler import ProcessTree
from lab.verify import wait_until_answering
from servers import Launch, ServerConfig

#: How many ports a server is tried on when its port turns out to be taken.
PORT_ATTEMPTS = 3
#: What servers print when their port is taken (the OS's EADDRINUSE text; gunicorn's own words).
ADDRESS_IN_USE = ("Address already in use", "Connection in use")


def wsgi_target(flavour: str) -> str:
    """``raw``/``flask`` name the app's flavours; anything with a colon is an import target."""
    return app.FLAVOURS.get(flavour, flavour)


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def listeners(processes: list[psutil.Process], port: int) -> set[int]:
    """Pids among ``processes`` holding a socket that listens on ``port``."""
    found = set()
    for proc in processes:
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in proc.net_connections("tcp")):
                found.add(proc.pid)
        except psutil.NoSuchProcess:  # exited since it was listed: it serves nothing
            continue
    return found


def serving(processes: list[psutil.Process], port: int) -> set[int]:
    """Listening processes without a listening child: those that accept and answer."""
    listening = listeners(processes, port)
    parents = {proc.ppid() for proc in processes if proc.pid in listening}
    return listening - parents


class LocalServer:
    """Started pinned to the server CPUs on entry, answering once entered, stopped on exit."""

    def __init__(self, config: ServerConfig, options, log_path, run_dir, workers: int | None = None,
                 threads: int | None = None):
        reason = config.unavailable_reason()
        if reason:
            raise CellFailed(reason)
        self.config, self.options, self.log_path, self.run_dir = config, options, log_path, run_dir
        workers = options.workers[0] if workers is None else workers  # the first step of any sweep
        threads = options.threads[0] if threads is None else threads
        self.launch = Launch(wsgi_target(options.app), options.host, free_port(options.host), workers, threads)
        self.expected_serving = workers if config.uses_workers else 1
        self.notes: list[str] = []
        self.child: Child | None = None

    @property
    def host(self) -> str:
        return self.launch.host

    @property
    def port(self) -> int:
        return self.launch.port

    @property
    def command(self) -> list[str]:
        return self.config.argv(self.launch)

    def __enter__(self) -> LocalServer:
        failure, attempts = self.start(), 1
        while failure and self.port_taken() and attempts < PORT_ATTEMPTS:
            taken, self.launch = self.port, dataclasses.replace(self.launch, port=free_port(self.host))
            self.notes.append(f"port {taken} was taken before the server bound it ({self.in_use_line()}); "
                              f"started again on port {self.port}")
            failure, attempts = self.start(), attempts + 1
        if failure:
            tried = f" (after {'; '.join(self.notes)})" if self.notes else ""
            raise CellFailed(f"server {failure}{tried}; log: {self.log_tail()}")
        self.usage = ProcessTree(self.child.processes)
        return self

    def start(self) -> str | None:
        """Start the server and wait until ready; the reason it is not, with it stopped, or None."""
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.child = Child(self.command, self.options.server_cpus, self.log_path, self.run_dir)
        try:
            self.wait_until_ready(time.monotonic() + self.options.start_timeout)
        except TimeoutError as exc:
            self.child.stop(self.options.stop_timeout)
            return f"{exc} (exit code {self.child.exit_code()})"
        except BaseException:
            self.child.stop(self.options.stop_timeout)
            raise
        return None

    def wait_until_ready(self, deadline: float) -> None:
        """Answered, on a socket of its own, by every serving process it should have (module doc)."""
        def running() -> bool:
            return self.child.exit_code() is None

        wait_until_answering(self.host, self.port, deadline, running)
        while True:
            found = serving(self.child.processes(), self.port)
            if len(found) >= self.expected_serving:
                return
            if not running():
                raise TimeoutError("exited before answering")
            if time.monotonic() > deadline:
                owner = "none of them listens on the port: another process answered there" if not found else \
                    f"{len(found)} of {self.expected_serving} serving processes listen"
                raise TimeoutError(f"not ready before the start timeout: {owner}")
            time.sleep(0.1)  # poll interval, against the deadline above

    def in_use_line(self) -> str | None:
        """The line of this attempt's log saying the port was taken, if any."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_offset)
            lines = log.read().decode(errors="replace").splitlines()
        return next((line.strip() for line in lines if any(text in line for text in ADDRESS_IN_USE)), None)

    def port_taken(self) -> bool:
        return self.in_use_line() is not None

    def __exit__(self, *exc_info) -> None:
        self.child.stop(self.options.stop_timeout)

    def failure(self) -> str | None:
        """Why the server stopped serving, or None while it runs."""
        code = self.child.exit_code()
        return None if code is None else f"server exited with code {code}"

    def log_tail(self) -> str:
        return self.child.log_tail()


class LocalBackend:
    """Where local runs get their servers; nothing to describe beyond the processes."""

    environment = "local"

    def server(self, config: ServerConfig, options, workers: int, threads: int, log_path, run_dir) -> LocalServer:
        return LocalServer(config, options, log_path, run_dir, workers, threads)

    def describe(self) -> dict:
        return {}

    @contextlib.contextmanager
    def locust_workers(self, options, files):
        """Start ``--locust-workers`` worker processes on the generator CPUs for one cell."""
        with contextlib.ExitStack() as stack:
            workers = [stack.enter_context(Child(
                [sys.executable, "-m", "lab.locust_worker", "--once", "--master-host", "127.0.0.1"],
                options.generator_cpus, files.log(f"locust-worker{index}"), files.run_dir))
                for index in range(options.locust_workers)]
            yield [ProcessTree(worker.processes) for worker in workers]

    def finish(self) -> None:
        """Nothing outlives a local cell."""
