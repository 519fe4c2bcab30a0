# WSGI server benchmark lab: two images from one file.
#
#   target "server"  app/ + servers/ + the servers' wheels (requirements/server.txt): what every server
#                    container runs. No load generator, no report stack, no test tools.
#   target "runner"  the lab itself: locust, wrk and the reports (requirements/runner.txt), driving the
#                    server containers; also the image of the locust-worker service.
#
# Works with the legacy builder (Docker 20.10, no BuildKit): no RUN --mount, no heredocs. The legacy
# builder builds every stage above the target: the two venvs come first (scripts/images-offline.sh
# can build them alone), then the code, then the server image, then the runner image.
#
#   Online (public base image, wheels built from PyPI inside the build stage):
#     docker build --target server -t wsgi-lab-server:latest .
#     docker build --target runner -t wsgi-lab-runner:latest .
#   Offline (no registry, no PyPI from containers): scripts/images-offline.sh passes
#     --build-arg BASE_IMAGE=lab-base:bookworm --build-arg PIP_WHEEL_ARGS="--no-index --find-links=/hostwheels"
#
# Both images install with constraints.txt (every transitive dependency pinned) when it exists, so
# two builds from one commit carry the same package versions; each venv's `pip freeze` is kept in the
# image as /opt/venv/packages.txt. All stages use the same base image, so a venv built in one stage
# runs unchanged in another (same interpreter path). Only venvs and code reach the final images:
# neither compilers, pip nor the wheelhouse.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------------------------
# Wheels for both images, built once (bjoern compiled against libev-dev).
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

# requirements.txt always matches, so "constraints.tx[t]" and "wheel[s]" may match nothing (no
# constraints yet, no wheels/ for real users): the legacy builder only fails when *no* source
# matches. A matched directory has its *contents* copied: the host wheels land in /hostwheels.
COPY requirements /req/requirements/
COPY requirements.txt constraints.tx[t] /req/
COPY requirements.txt wheel[s] /hostwheels/

# "" = build from PyPI; the offline script passes "--no-index --find-links=/hostwheels".
# /req/pip-args holds the constraints option (or nothing) for the install stages below.
# LAB_REBUILD: any new value re-runs every pip step below while apt's layers stay cached (the
# reproducibility test builds twice that way).
ARG PIP_WHEEL_ARGS=""
ARG LAB_REBUILD=""
RUN set -eux; \
    if [ -f /req/constraints.txt ]; then echo "-c /req/constraints.txt" >/req/pip-args; else : >/req/pip-args; fi; \
    /opt/venv/bin/pip wheel -r /req/requirements/runner.txt $(cat /req/pip-args) -w /wheels $PIP_WHEEL_ARGS

# --------------------------------------------------------------------------------------------
# One venv per image, from the wheels only. pip and setuptools leave the venv (a server never
# installs anything); `pip freeze` is recorded first, for the reproducibility check.
FROM build AS server-venv
LABEL io.wsgi-lab.stage="build"
RUN set -eux; \
    /opt/venv/bin/pip install --no-index --find-links=/wheels -r /req/requirements/server.txt $(cat /req/pip-args); \
    /opt/venv/bin/pip freeze --all --exclude pip --exclude setuptools >/opt/venv/packages.txt; \
    /opt/venv/bin/pip uninstall -y -q pip setuptools; \
    find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +; \
    /opt/venv/bin/python -c "import bjoern, gunicorn, gevent, waitress, flask"

# --------------------------------------------------------------------------------------------
FROM build AS runner-venv
LABEL io.wsgi-lab.stage="build"
RUN set -eux; \
    /opt/venv/bin/pip install --no-index --find-links=/wheels -r /req/requirements/runner.txt $(cat /req/pip-args); \
    /opt/venv/bin/pip freeze --all --exclude pip --exclude setuptools >/opt/venv/packages.txt; \
    /opt/venv/bin/python -c "import bjoern, gunicorn, waitress, locust, flask, psutil, hdrh, matplotlib, docker"

# --------------------------------------------------------------------------------------------
# The project's code, kept apart from the venvs so that editing code never touches the dependency
# layers. /out/server: what a server container imports; /out/runner: the whole lab. A missing
# folder is only a note. One "COPY ." measured as fast as one COPY per folder here.
FROM ${BASE_IMAGE} AS code
LABEL io.wsgi-lab.stage="build"
ARG SERVER_DIRS="app servers"
ARG RUNNER_DIRS="app servers loadtests lab"
COPY . /src/
RUN set -eu; \
    for image in server runner; do \
        mkdir -p "/out/$image"; \
        if [ "$image" = server ]; then dirs="$SERVER_DIRS"; else dirs="$RUNNER_DIRS"; fi; \
        for d in $dirs; do \
            if [ -d "/src/$d" ]; then cp -a "/src/$d" "/out/$image/"; else echo "note: no $d/ in the build context"; fi; \
        done; \
    done; \
    find /out \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +; \
    ls /out/*

# --------------------------------------------------------------------------------------------
# What both images share: libev for bjoern, the unprivileged user, /lab.
# apt-get clean matters on a debootstrap base: unlike the official images it keeps the .debs.
FROM ${BASE_IMAGE} AS runtime
LABEL io.wsgi-lab.stage="runtime"
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends libev4; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    groupadd --gid 1000 lab; \
    useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh lab; \
    mkdir -p /lab/results; \
    chown lab:lab /lab /lab/results
ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    LAB_PORT=8000
WORKDIR /lab

# --------------------------------------------------------------------------------------------
FROM runtime AS server
LABEL io.wsgi-lab.stage="runtime" \
      io.wsgi-lab.image="server" \
      org.opencontainers.image.title="wsgi-lab-server" \
      org.opencontainers.image.description="WSGI server benchmark lab: one server under test (python -m servers NAME)"
COPY --from=server-venv /opt/venv /opt/venv
COPY --from=code /out/server/ /lab/
USER lab
EXPOSE 8000
# Only the server image has a health check: the runner and locust-worker services get none from it.
# It runs on the servers' CPU while another server is measured: rare (60 s), cheap (no site, no
# urllib) and patient (10 s, 3 misses), so neither it disturbs a cell nor a busy CPU turns a server
# "unhealthy". The runner waits for each server itself before measuring it.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-I", "-S", "-c", "import os, socket; s = socket.create_connection(('127.0.0.1', int(os.environ.get('LAB_PORT', '8000'))), 10); s.sendall(b'GET /plaintext HTTP/1.0\\r\\nHost: health\\r\\n\\r\\n'); assert s.recv(64).startswith(b'HTTP/1.')"]
CMD ["python", "-m", "servers", "--help"]

# --------------------------------------------------------------------------------------------
FROM runtime AS runner
LABEL io.wsgi-lab.stage="runtime" \
      io.wsgi-lab.image="runner" \
      org.opencontainers.image.title="wsgi-lab-runner" \
      org.opencontainers.image.description="WSGI server benchmark lab: the runner (locust, wrk, reports) and locust workers"
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends wrk; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=runner-venv /opt/venv /opt/venv
COPY --from=code /out/runner/ /lab/
USER lab
# 8088: the live page of the run (lab/live.py); 8089: locust's web UI of the cell in progress.
EXPOSE 8088 8089
CMD ["python", "-m", "lab", "--help"]
