"""A server's-eye view of a broken deployment: every route answers 200 with the wrong body.

Served by a real server, it must be caught by the lab's verify step and never measured.
"""


def application(environ, start_response):
    body = b"Hello, Wrold!"
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
