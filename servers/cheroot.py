"""cheroot: CherryPy's pure-Python HTTP server, one process with a fixed pool of threads.

An accept loop with a selector over kept-alive connections hands each ready connection to a pool
of worker threads, sized by ``--threads`` (min = max, so the pool is fixed).  It has no worker
processes, so ``--workers`` does not apply.  It logs no requests.
"""

import sys

from servers import Launch, ServerConfig

#: cheroot's defaults that can cap a test (cheroot.server.HTTPServer), none settable from its CLI
#: except the listen queue.
LISTEN = 5
KEEP_ALIVE_CONNECTIONS = 10


def cheroot_argv(launch: Launch) -> list[str]:
    return [
        sys.executable, "-m", "cheroot",
        "--bind", f"{launch.host}:{launch.port}",
        "--threads", str(launch.threads),
        "--max-threads", str(launch.threads),
        launch.target,
    ]


CONFIGS = [
    ServerConfig(
        name="cheroot",
        distribution="cheroot",
        model="one process: an accept/select loop plus a fixed pool of T worker threads, keep-alive",
        command=cheroot_argv,
        notes=(
            f"cheroot keeps at most {KEEP_ALIVE_CONNECTIONS} connections open between requests "
            "(keep_alive_conn_limit): past that it closes each connection after its response, so "
            f"with more than {KEEP_ALIVE_CONNECTIONS} users most requests pay a new TCP connection",
            f"cheroot's listen queue is {LISTEN} connections (request_queue_size): with the "
            "reconnections above, connections overflow it and wait for SYN retransmits (about 1 s "
            "latency tails)",
            "cheroot sends the app's body in answers to HEAD (it leaves that to the app)",
            "cheroot's command line sets no SIGTERM handler: SIGTERM ends it at once, dropping the "
            "requests in flight",
            "one process: it cannot use more than one core for Python code (GIL)",
        ),
        uses_workers=False,
        uses_threads=True,
    ),
]
