"""hypercorn: an asyncio HTTP server that serves WSGI apps natively.

Chosen over uvicorn + a2wsgi because hypercorn serves a WSGI callable itself, from its own command
line, with no adapter package in between: what is measured is one project's code, run as its users
run it.  uvicorn has no WSGI path of its own any more (its ``--interface wsgi`` is deprecated in
favour of a2wsgi), so measuring it would measure a2wsgi's thread pool behind uvicorn's event loop,
and the report would have to name two projects for one figure.  hypercorn is also one of the
servers HTTP Garden compares on request parsing, which the probes can be read against.

A master process starts ``--workers`` worker processes; each runs an asyncio event loop that
parses HTTP/1.1 with h11, reads the whole request body, then runs the app on the loop's default
thread pool; keep-alive.  hypercorn offers no option for that pool's size, so ``--threads`` does
not apply.

One surprise is fixed here rather than in the app: hypercorn 0.18 answers 500 when a WSGI app
returns a body with no chunk at all (``[]``, as for ``HEAD``), because it only starts the response
on the first chunk.  The app is served through :func:`at_least_one_chunk`, which sends one empty
chunk instead; the command line names it, and a note says so.
"""

import sys

from servers import Launch, ServerConfig, load_app

#: hypercorn's defaults that can cap a test (hypercorn.config.Config).
BACKLOG = 100
KEEP_ALIVE_MAX_REQUESTS = 1000
MAX_BODY_MIB = 16
MAX_HEADERS_KIB = 16


def at_least_one_chunk(module: str, attribute: str):
    """The WSGI app ``module:attribute``, its empty bodies sent as one empty chunk (module doc)."""
    app = load_app(f"{module}:{attribute}")

    def application(environ, start_response):
        body = app(environ, start_response)
        try:
            empty = True
            for chunk in body:
                empty = False
                yield chunk
            if empty:
                yield b""
        finally:
            if hasattr(body, "close"):
                body.close()

    return application


def hypercorn_argv(launch: Launch) -> list[str]:
    module, _, attribute = launch.target.partition(":")
    return [
        sys.executable, "-m", "hypercorn",
        "--bind", f"{launch.host}:{launch.port}",
        "--workers", str(launch.workers),
        "--log-level", "warning",
        # hypercorn reads "mode:module:expression" when the target holds exactly two colons, so
        # the app's module and attribute are passed apart.
        f"wsgi:{__name__}:at_least_one_chunk({module!r}, {attribute or 'application'!r})",
    ]


CONFIGS = [
    ServerConfig(
        name="hypercorn",
        distribution="hypercorn",
        model="master + N worker processes, each an asyncio loop (h11) running the app on "
        "asyncio's default thread pool, keep-alive",
        command=hypercorn_argv,
        notes=(
            "hypercorn runs the app on asyncio's default thread pool, min(32, os.cpu_count() + 4) "
            "threads per worker; os.cpu_count() counts the machine's CPUs, not the pinned ones, "
            "and no option sizes the pool (--threads does not apply)",
            f"hypercorn's listen backlog is {BACKLOG} and it closes a kept-alive connection after "
            f"{KEEP_ALIVE_MAX_REQUESTS} requests (its defaults)",
            f"hypercorn reads the whole request body before calling the app and answers 400 above "
            f"{MAX_BODY_MIB} MiB (wsgi_max_body_size), and answers 431 to request headers over "
            f"{MAX_HEADERS_KIB} KiB (h11_max_incomplete_size)",
            "hypercorn 0.18 answers 500 to an empty WSGI body (e.g. HEAD); the lab wraps the app so "
            "an empty body is sent as one empty chunk (at_least_one_chunk on the command line)",
            "the master process is counted in CPU and RSS",
        ),
    ),
]
