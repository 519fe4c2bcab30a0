"""What the application answers, declared once.

Both flavours (raw WSGI in ``app.raw`` and Flask in ``app.flask_app``) serve exactly these bytes,
and the lab's verify step and the locust scenarios check answers against the same constants, so a
server that garbles a response can never be measured as if it were correct.
"""

import json

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

#: Largest form body, in bytes, that ``POST /sign`` reads; a larger ``Content-Length`` gets 413
#: before a single byte of the body is read.
FORM_BODY_CAP = 4096

#: The one account the sign-in form accepts (the classic sample's credentials).
USERNAME = "admin"
PASSWORD = "password"

HOME_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Home</title></head><body>\n"
    b"<h1>Home</h1>\n<ul>\n"
    b'<li><a href="/signin">Sign in</a></li>\n'
    b'<li><a href="/plaintext">Plaintext</a></li>\n'
    b'<li><a href="/json">JSON</a></li>\n'
    b"</ul>\n</body></html>\n"
)

SIGNIN_FORM = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>\n"
    b'<form action="/sign" method="post">\n'
    b'<p><input name="username" type="text"></p>\n'
    b'<p><input name="password" type="password"></p>\n'
    b'<p><button type="submit">Sign In</button></p>\n'
    b"</form>\n</body></html>\n"
)

PLAINTEXT = b"Hello, World!"
JSON_BODY = json.dumps({"message": "Hello, World!"}).encode()

GREETING = b"<h3>hello, admin</h3>"
BAD_CREDENTIALS = b"<h3>Bad user name or password</h3>"
BAD_FORM = b"<h3>Bad request: the form needs one username and one password</h3>"
TOO_LARGE = b"<h3>Request body too large</h3>"
NOT_FOUND = b"<h3>Not found</h3>"
METHOD_NOT_ALLOWED = b"<h3>Method not allowed</h3>"

#: Status of each sign-in outcome: accepted, wrong credentials, unusable form, body over the cap.
SIGN_OK, SIGN_REFUSED, SIGN_BAD_FORM, SIGN_TOO_LARGE = 200, 403, 400, 413

#: GET (and HEAD) routes: path -> (body, content type).  ``/sign`` answers POST only.
PAGES = {
    "/": (HOME_PAGE, HTML),
    "/signin": (SIGNIN_FORM, HTML),
    "/plaintext": (PLAINTEXT, TEXT),
    "/json": (JSON_BODY, JSON),
}
GET_METHODS = ("GET", "HEAD")
SIGN_PATH = "/sign"
SIGN_METHODS = ("POST",)
