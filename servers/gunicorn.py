"""gunicorn: a pre-fork master with ``--workers`` worker processes.

``sync`` workers serve one request at a time each and close the connection after every response
(no keep-alive); ``gthread`` workers run ``--threads`` threads each and keep connections alive;
``gevent`` workers serve many requests at once on greenlets, switching whenever one waits.
Access logs stay off (gunicorn's default) and the control socket is disabled so a run leaves
nothing under ``$HOME``.
"""

import sys

from servers import Launch, ServerConfig


def gunicorn_argv(worker_class: str):
    def command(launch: Launch) -> list[str]:
        argv = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"{launch.host}:{launch.port}",
            "--workers", str(launch.workers),
            "--worker-class", worker_class,
            "--no-control-socket",
            "--log-level", "warning",
        ]
        if worker_class == "gthread":
            argv += ["--threads", str(launch.threads)]
        if worker_class == "gevent":
            argv += ["--worker-connections", str(GEVENT_CONNECTIONS)]
        return argv + [launch.target]

    return command


#: Greenlets (concurrent requests) per gevent worker: gunicorn's default, stated in the report.
GEVENT_CONNECTIONS = 1000

CONFIGS = [
    ServerConfig(
        name="gunicorn",
        distribution="gunicorn",
        model="pre-fork master + N sync worker processes, one request at a time per worker",
        command=gunicorn_argv("sync"),
        notes=(
            "gunicorn's sync worker closes the connection after every response (no keep-alive): "
            "every request pays a new TCP connection",
            "the master process is counted in CPU and RSS",
        ),
    ),
    ServerConfig(
        name="gunicorn:gthread",
        distribution="gunicorn",
        model="pre-fork master + N gthread worker processes with T threads each, keep-alive",
        command=gunicorn_argv("gthread"),
        notes=("the master process is counted in CPU and RSS",),
        uses_threads=True,
    ),
    ServerConfig(
        name="gunicorn:gevent",
        distribution="gunicorn",
        model=f"pre-fork master + N gevent worker processes, up to {GEVENT_CONNECTIONS} greenlets each "
        "(cooperative: blocking calls patched to yield), keep-alive",
        command=gunicorn_argv("gevent"),
        notes=("the master process is counted in CPU and RSS",
               "gevent monkey-patches the worker: time.sleep and sockets yield to other greenlets, "
               "CPU-bound work does not"),
    ),
]
