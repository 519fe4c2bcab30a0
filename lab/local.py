"""Servers the lab starts itself as local process groups, one per cell, on a free loopback port.

The port is found by binding port 0 and closing, so another process can take it before the server
binds it (a race the lab cannot close without handing every server an open socket).  A server that
fails on a taken port is started again on a new port, up to ``PORT_ATTEMPTS`` times, and each
retry is kept in ``notes`` with its reason.

Ready means: the server answered ``GET /plaintext``; the socket listening on its port belongs to
one of its own processes (not to whoever took the port); every serving process it should have
(``--workers`` for servers that fork) holds that listening socket; and each of them has answered.
A serving process is one that listens on the port and has no listening child (gunicorn's master
only hands its socket down; bjoern's parent holds none).  To reach every worker, the lab opens
connections and holds them: the kernel tells (``/proc``, via psutil) which process accepted each,
a busy sync worker cannot take the next one, and a worker still booting (gevent's ignore SIGTERM
then) takes none until it is in its accept loop.  Then each worker answers one request.  A worker
that never got a connection before the start timeout is kept as a note, not a failure: the kernel
chooses who accepts, and it listens.
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


def poll(find, deadline: float, interval: float = 0.01):
    """Call ``find()`` until it returns something truthy or ``deadline`` (monotonic) passes; returns
    its last result.  The one poll loop of this module: every wait here has that deadline."""
    while True:
        found = find()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(interval)  # poll interval, against the deadline


def acceptor(processes: list[psutil.Process], client: socket.socket, port: int) -> int | None:
    """The pid holding the server side of ``client``'s connection, once a process accepted it."""
    mine = client.getsockname()[:2]
    for proc in processes:
        try:
            if any(c.raddr and tuple(c.raddr) == mine and c.laddr.port == port for c in proc.net_connections("tcp")):
                return proc.pid
        except psutil.NoSuchProcess:  # exited since it was listed: it accepted nothing
            continue
    return None


#: Connections held open at most per worker while looking for the ones that took none yet.
HELD_PER_WORKER = 8
READY_REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: lab-ready-check\r\nConnection: close\r\n\r\n"


def roll_call(host: str, port: int, pids: set[int], processes, deadline: float) -> set[int]:
    """Hold connections open until each of ``pids`` accepted one, then have each answer a request
    on it; returns the pids that answered (all, unless the deadline passed first)."""
    held: dict[int, socket.socket] = {}
    spare: list[socket.socket] = []  # taken by a worker already seen (an async one takes many)
    try:
        while set(held) < pids and len(spare) < HELD_PER_WORKER * len(pids) and time.monotonic() < deadline:
            conn = socket.create_connection((host, port), timeout=2)
            pid = poll(lambda: acceptor(processes(), conn, port), min(deadline, time.monotonic() + 2))
            if pid in pids and pid not in held:
                held[pid] = conn
            else:
                spare.append(conn)
        return {pid for pid, conn in held.items() if answers(conn)}
    finally:
        for conn in [*held.values(), *spare]:
            conn.close()


def answers(conn: socket.socket) -> bool:
    """Send the ready check on ``conn`` and read to the close: did an HTTP answer come back?  (Is it
    the right one is ``lab.verify``'s question, asked next.)"""
    reply = b""
    try:
        conn.sendall(READY_REQUEST)
        while chunk := conn.recv(65536):
            reply += chunk
    except OSError:  # reset or timed out: no answer, which the caller records against this worker
        return False
    return reply.startswith(b"HTTP/1.")


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
        found = poll(lambda: self.listening_workers() if running() else set(), deadline)
        if not running():
            raise TimeoutError("exited before answering")
        if len(found or ()) < self.expected_serving:
            owner = "none of them listens on the port: another process answered there" if not found else \
                f"{len(found)} of {self.expected_serving} serving processes listen"
            raise TimeoutError(f"not ready before the start timeout: {owner}")
        try:
            answered = roll_call(self.host, self.port, found, self.child.processes, deadline)
        except OSError as exc:
            raise TimeoutError(f"the ready check could not connect: {exc}") from None
        if answered != found:
            self.notes.append(f"{len(answered)} of {len(found)} workers answered before the start timeout "
                              f"(pids {sorted(found - answered)} listen but took no connection or gave no answer)")

    def listening_workers(self) -> set[int] | None:
        """The serving pids once there are as many as expected, else None (poll again)."""
        found = serving(self.child.processes(), self.port)
        return found if len(found) >= self.expected_serving else None

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
