"""Servers the lab starts itself as local process groups, one per cell, on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import sys
import time

import app
from lab.process import Child
from lab.results import CellFailed
from lab.sampler import ProcessTree
from lab.verify import wait_until_answering
from servers import Launch, ServerConfig


def wsgi_target(flavour: str) -> str:
    """``raw``/``flask`` name the app's flavours; anything with a colon is an import target."""
    return app.FLAVOURS.get(flavour, flavour)


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LocalServer:
    """Started pinned to the server CPUs on entry, answering once entered, stopped on exit."""

    def __init__(self, config: ServerConfig, options, log_path, run_dir, workers: int | None = None,
                 threads: int | None = None):
        reason = config.unavailable_reason()
        if reason:
            raise CellFailed(reason)
        self.options, self.log_path, self.run_dir = options, log_path, run_dir
        workers = options.workers[0] if workers is None else workers  # the first step of any sweep
        threads = options.threads[0] if threads is None else threads
        self.launch = Launch(wsgi_target(options.app), options.host, free_port(options.host), workers, threads)
        self.host, self.port = self.launch.host, self.launch.port
        self.command = config.argv(self.launch)
        self.child: Child | None = None

    def __enter__(self) -> LocalServer:
        self.child = Child(self.command, self.options.server_cpus, self.log_path, self.run_dir)
        try:
            wait_until_answering(self.host, self.port, time.monotonic() + self.options.start_timeout,
                                 lambda: self.child.exit_code() is None)
        except TimeoutError as exc:
            self.child.stop(self.options.stop_timeout)
            raise CellFailed(f"server {exc} (exit code {self.child.exit_code()}); log: {self.log_tail()}") from None
        except BaseException:
            self.child.stop(self.options.stop_timeout)
            raise
        self.usage = ProcessTree(self.child.processes)
        return self

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
