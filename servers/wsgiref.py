"""wsgiref: the standard library's ``simple_server``, as in the classic WSGI sample.

One process, one thread, one request at a time, HTTP/1.0 style (the connection closes after each
response) and a listen backlog of 5.  It is a reference implementation, documented as not for
production; it is measured as the baseline.  Per-request logging to stderr is turned off so the
baseline is not dominated by log writes (the other servers do not log requests by default either).
"""

import functools
import socketserver
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from servers import ServerConfig, own_argv, serve_main


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        """Drop the per-request access log line."""


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """The standard library's documented way to get a thread per connection."""

    daemon_threads = True


def serve(app, host: str, port: int, workers: int, variant: str = "") -> None:
    """Serve forever, on one thread or (variant ``threading``) a thread per connection."""
    server_class = ThreadingWSGIServer if variant == "threading" else WSGIServer
    with make_server(host, port, app, server_class=server_class, handler_class=QuietHandler) as httpd:
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
    ServerConfig(
        name="wsgiref:threading",
        distribution="wsgiref",
        model="one process, a new thread per connection (socketserver.ThreadingMixIn); no keep-alive",
        command=functools.partial(own_argv, "servers.wsgiref", variant="threading"),
        notes=(
            "wsgiref.simple_server is the standard library's reference server, not meant for "
            "production",
            "threads are unbounded (one per connection) and share one core for Python code (GIL)",
        ),
        uses_workers=False,
    ),
]

if __name__ == "__main__":
    serve_main(serve)
