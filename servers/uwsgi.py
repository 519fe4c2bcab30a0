"""uWSGI (the ``pyuwsgi`` wheel): a master process forking ``--workers`` workers with ``--threads``
threads each, every worker parsing HTTP itself on the shared listening socket (no router process).

Two configurations differ only in the socket option:

* ``uwsgi`` uses ``--http-socket``, the option uWSGI's docs name for serving HTTP without the
  router.  It closes the connection after every response, and says so to nobody: the reply to an
  HTTP/1.1 request carries no ``Connection: close``, so a client that reuses the connection reads
  an error (wrk counts one per request).
* ``uwsgi:http11`` uses ``--http11-socket``, the same socket with HTTP/1.1 keep-alive, which makes
  it comparable with the servers that keep connections open.  A kept-alive connection holds its
  worker thread until it has been idle for the socket timeout (``--socket-timeout``, 4 s): with more
  users than workers × threads, the others wait unserved for up to that long.

``--die-on-term`` makes SIGTERM stop it (uWSGI 2.0 otherwise reloads on SIGTERM), ``--need-app``
makes it exit when the app cannot be imported instead of serving errors, ``--strict`` refuses an
unknown option, and ``--disable-logging`` turns the per-request log off, as for the other servers.
"""

import sys
from pathlib import Path

from servers import Launch, ServerConfig

#: uWSGI's defaults stated in the notes: the listen queue (``--listen``), how long an idle
#: kept-alive connection keeps its thread (``--socket-timeout``, seconds) and the request-header
#: buffer (``--buffer-size``, bytes).
LISTEN = 100
SOCKET_TIMEOUT_S = 4
BUFFER_SIZE = 4096


def uwsgi_argv(socket_option: str):
    def command(launch: Launch) -> list[str]:
        module, _, attribute = launch.target.partition(":")
        return [
            # the wheel's console script, beside the interpreter it was installed for
            str(Path(sys.executable).with_name("uwsgi")),
            "--strict",
            "--master",
            "--die-on-term",
            "--need-app",
            "--disable-logging",
            socket_option, f"{launch.host}:{launch.port}",
            "--workers", str(launch.workers),
            "--threads", str(launch.threads),
            "--module", module,
            "--callable", attribute or "application",
        ]

    return command


COMMON_NOTES = (
    f"uWSGI's listen queue is {LISTEN} connections (--listen default)",
    f"uWSGI reads a request's line and headers into a {BUFFER_SIZE}-byte buffer (--buffer-size): "
    "a request with more is answered by a connection reset",
    "uWSGI sends the app's body in answers to HEAD (it leaves that to the app), and a chunked "
    "request body reaches the app empty",
    "uWSGI sends no Date or Server header",
    "uWSGI is in maintenance mode (bug fixes only)",
    "the master process is counted in CPU and RSS",
)

CONFIGS = [
    ServerConfig(
        name="uwsgi",
        distribution="pyuwsgi",
        model="master + N worker processes with T threads each, HTTP parsed by the workers "
        "(--http-socket, no router); no keep-alive",
        command=uwsgi_argv("--http-socket"),
        notes=(
            "uWSGI's --http-socket closes the connection after every response without sending "
            "Connection: close: every request pays a new TCP connection, and wrk counts each close "
            "as a read error",
            *COMMON_NOTES,
        ),
        uses_threads=True,
    ),
    ServerConfig(
        name="uwsgi:http11",
        distribution="pyuwsgi",
        model="master + N worker processes with T threads each, HTTP parsed by the workers "
        "(--http11-socket, no router), keep-alive: each open connection holds a thread",
        command=uwsgi_argv("--http11-socket"),
        notes=(
            "uWSGI's --http11-socket serves a kept-alive connection on one thread until it has been "
            f"idle {SOCKET_TIMEOUT_S} s (--socket-timeout): with more users than workers × threads, "
            f"the others wait unserved up to {SOCKET_TIMEOUT_S} s, and under a closed loop only "
            "workers × threads users are ever served",
            *COMMON_NOTES,
        ),
        uses_threads=True,
    ),
]
