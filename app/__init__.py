"""The application under test, in two flavours serving byte-identical answers.

* ``raw`` (:mod:`app.raw`): a bare WSGI callable, no framework, so a benchmark measures the
  server and little else.
* ``flask`` (:mod:`app.flask_app`): the same routes as a Flask app, to measure a server under a
  typical framework's per-request overhead.

Both answer exactly the bodies, content types and statuses declared in :mod:`app.content`, and
share the sign-in logic in :mod:`app.signin` and the workload routes' logic (``/io``, ``/cpu``,
``/bytes/<kb>``, ``/upload``) in :mod:`app.workloads`.  ``app:application`` is the raw flavour.
"""

from app.raw import application

#: Flavour name -> WSGI import target ("module:attribute"), as servers take it on the command line.
FLAVOURS = {"raw": "app:application", "flask": "app.flask_app:application"}

__all__ = ["FLAVOURS", "application"]
