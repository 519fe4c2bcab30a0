"""wsgiref: the standard library's ``simple_server``, as in the classic WSGI sample.

One process, one thread, one request at a time, HTTP/1.0 style (the connection closes after each
response) and a listen backlog of 5.  It is a reference implementation, documented as not for
production; it is measured as the baseline.  Per-request logging to stderr is turned off so the
baseline is not dominated by log writes (the other servers do not log requests by default either).
"""

import functools
from wsgiref.simple_server import WSGIRequestHandler, make_server

from servers import ServerConfig, own_argv, serve_main


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        """Drop the per-request access log line."""


def serve(app, host: str, port: int, workers: int) -> None:
    """Serve forever on one thread; ``workers`` does not apply to this server."""
    with make_server(host, port, app, handler_class=QuietHandler) as httpd:
        httpd.serve_forever()


CONFIGS = [
    ServerConfig(
        name="wsgiref",
        distribution="wsgiref",
        model="one process, one thread, one request at a time; no keep-alive",
        command=functools.partial(own_argv, "servers.wsgiref"),
        notes=(
            "wsgiref.simple_server is the standard library's reference server, not meant for "
            "production",
            "single-threaded with a listen backlog of 5: extra connections wait for SYN retransmits "
            "(about 1 s latency tails)",
        ),
        uses_workers=False,
    ),
]

if __name__ == "__main__":
    serve_main(serve)
