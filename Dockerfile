# WSGI server benchmark lab image.
#
# Works with the legacy builder (Docker 20.10, no BuildKit): no RUN --mount, no heredocs.
#
#   Online (public base image, wheels built from PyPI inside the build stage):
#     docker build -t wsgi-lab:latest .
#   Offline (no registry, no PyPI from containers): see scripts/images-offline.sh, which does
#     docker build --build-arg BASE_IMAGE=lab-base:bookworm \
#                  --build-arg PIP_WHEEL_ARGS="--no-index --find-links=/hostwheels" -t wsgi-lab:latest .
#
# All stages use the same base image, so the venv built in the "build" stage runs unchanged in the
# "runtime" stage (same interpreter path). Only the venv and the code are copied over: neither
# compilers nor the wheelhouse end up in the runtime image.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
LABEL io.wsgi-lab.stage="build"

ARG DEBIAN_FRONTEND=noninteractive
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Compiler + libev headers for bjoern. Python headers: the python:*-slim images ship them
# (python3-config exists); a plain Debian base needs python3-dev.
RUN set -eux; \
    pkgs="gcc libc6-dev libev-dev"; \
    command -v python3-config >/dev/null 2>&1 || pkgs="$pkgs python3-dev"; \
    apt-get update; \
    apt-get install -y --no-install-recommends $pkgs; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# python3 -m venv works on both bases (the Debian base has PEP 668 "externally managed" system pip).
RUN python3 -m venv /opt/venv

# requirements.txt always matches, so "wheel[s]" may match nothing (no wheels/ folder for real
# users): the legacy builder only fails when *no* source matches. A matched directory has its
# *contents* copied, so the host wheels land directly in /hostwheels (with requirements.txt).
COPY requirements.txt wheel[s] /hostwheels/

# "" = build from PyPI; the offline script passes "--no-index --find-links=/hostwheels".
ARG PIP_WHEEL_ARGS=""
RUN set -eux; \
    /opt/venv/bin/pip wheel -r /hostwheels/requirements.txt -w /wheels $PIP_WHEEL_ARGS; \
    /opt/venv/bin/pip install --no-index --find-links=/wheels -r /hostwheels/requirements.txt; \
    /opt/venv/bin/python -c "import bjoern, gunicorn, waitress, locust, flask, psutil, hdrh"

# --------------------------------------------------------------------------------------------
# The project's code, kept apart from the build stage so that editing code never touches the
# dependency layers (and scripts/images-offline.sh can tag "build" alone as cache). Whichever of
# CODE_DIRS exist are copied; a missing one is only a note. One "COPY ." (it also carries wheels/,
# a few MB/s) measured as fast as one COPY per folder: each layer commit costs ~2 s here.
FROM ${BASE_IMAGE} AS code
LABEL io.wsgi-lab.stage="build"
ARG CODE_DIRS="app servers loadtests lab"
COPY . /src/
RUN set -eu; \
    mkdir /out; \
    for d in $CODE_DIRS; do \
        if [ -d "/src/$d" ]; then cp -a "/src/$d" /out/; else echo "note: no $d/ in the build context"; fi; \
    done; \
    find /out \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +; \
    ls /out

# --------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
LABEL io.wsgi-lab.stage="runtime" \
      org.opencontainers.image.title="wsgi-lab" \
      org.opencontainers.image.description="WSGI server benchmark lab (wsgiref, gunicorn, waitress, bjoern; wrk + locust)"

ARG DEBIAN_FRONTEND=noninteractive

# Runtime libraries only: libev for bjoern, wrk as a load generator. No compilers.
# apt-get clean matters on a debootstrap base: unlike the official images it keeps the .debs.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends libev4 wrk; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    groupadd --gid 1000 lab; \
    useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh lab; \
    mkdir -p /lab/results; \
    chown lab:lab /lab /lab/results

COPY --from=build /opt/venv /opt/venv
COPY --from=code /out/ /lab/

ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    LAB_PORT=8000

WORKDIR /lab
USER lab
EXPOSE 8000

HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/plaintext' % os.environ.get('LAB_PORT', '8000'), timeout=2).read()"]

CMD ["python", "-m", "lab", "--help"]
