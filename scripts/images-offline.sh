#!/usr/bin/env bash
# Build the lab's two images on a machine with no image registry (nothing can be pulled) and where
# containers cannot reach PyPI (TLS intercepted) but apt over HTTP works:
#   1. lab-base:bookworm  - a slim Debian bookworm base made with debootstrap + docker import (once);
#   2. wheels/            - a wheelhouse built on the host (bjoern compiled against host libev-dev),
#                           resolved from requirements/runner.txt with constraints.txt;
#   3. $LAB_SERVER_IMAGE and $LAB_RUNNER_IMAGE - docker build (targets "server" and "runner") with
#                           that base, installing only from the host wheels.
# Idempotent: an existing base image is reused; the wheelhouse and docker builds are cached.
#
# Environment:
#   LAB_SERVER_IMAGE  server image tag            (default wsgi-lab-server:latest)
#   LAB_RUNNER_IMAGE  runner image tag            (default wsgi-lab-runner:latest)
#   LAB_BASE       base image tag                 (default lab-base:bookworm)
#   LAB_CACHE_IMAGE  repository whose tags keep the venv stages as cache (default wsgi-lab-cache)
#   DEBIAN_MIRROR  mirror for debootstrap         (default: read from the host's apt sources)
#   LAB_REBUILD_BASE=1    rebuild the base image even if it exists
#   LAB_REFRESH_WHEELS=1  run pip wheel even if wheels/ already satisfies the requirements
#   LAB_VENVS_ONLY=1      build the two venv stages only (the reproducibility test)
#   PYTHON         host interpreter for the wheelhouse (default python3; must be 3.11)
# Extra arguments are passed to docker build, e.g. --network=none or --no-cache.
#
# Run as root (debootstrap, apt-get) from anywhere; paths are relative to the repository root.
set -euo pipefail

LAB_SERVER_IMAGE="${LAB_SERVER_IMAGE:-wsgi-lab-server:latest}"
LAB_RUNNER_IMAGE="${LAB_RUNNER_IMAGE:-wsgi-lab-runner:latest}"
LAB_BASE="${LAB_BASE:-lab-base:bookworm}"
LAB_CACHE_IMAGE="${LAB_CACHE_IMAGE:-wsgi-lab-cache}"
SUITE=bookworm
STAGE_LABEL=io.wsgi-lab.stage
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker daemon"
[ -f requirements/runner.txt ] || die "no requirements/runner.txt in $ROOT"
# Both images install requirements/runner.txt or a subset of it, with the constraints when present.
REQUIREMENTS=(-r requirements/runner.txt)
if [ -f constraints.txt ]; then REQUIREMENTS+=(-c constraints.txt); fi

apt_install() {  # apt_install PKG... (host)
    [ "$(id -u)" -eq 0 ] || die "need root to apt-get install $*"
    log "apt-get install $* (host)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

debian_mirror() {  # first Debian (non-security) mirror in the host's apt sources
    local m=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        m="$(awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) print $i }' \
                /etc/apt/sources.list.d/debian.sources | grep -v -- '-security' | head -n1 || true)"
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m="$(awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' \
                /etc/apt/sources.list | grep -v -- '-security' | head -n1 || true)"
    fi
    printf '%s' "${m:-http://deb.debian.org/debian}"
}

# Unmount anything left below a directory (debootstrap bind-mounts /dev, /proc, /sys inside
# containers), deepest first, so that removing the directory can never touch the host's /dev.
umount_below() {
    local dir="$1" mnt
    awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
}

ROOTFS_PARENT=""
OLD_BASE_ID=""
cleanup() {
    if [ -n "$ROOTFS_PARENT" ] && [ -d "$ROOTFS_PARENT" ]; then
        umount_below "$ROOTFS_PARENT"
        rm -rf --one-file-system "$ROOTFS_PARENT"
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- 1. base image
# Like the slim official images: no documentation, manuals or translations, now or from later
# apt-get installs (copyright files stay). It keeps the server image under 200 MB.
slim_rootfs() {  # slim_rootfs ROOTFS
    local rootfs="$1"
    [ -n "$rootfs" ] && [ "$rootfs" != / ] && [ -d "$rootfs/etc/dpkg/dpkg.cfg.d" ] \
        || die "slim_rootfs: $rootfs is not a debootstrapped tree"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
        >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
}

build_base() {
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
    command -v debootstrap >/dev/null || apt_install debootstrap
    local mirror t0 rootfs old_id
    old_id="$(docker image inspect -f '{{.Id}}' "$LAB_BASE" 2>/dev/null || true)"
    mirror="${DEBIAN_MIRROR:-$(debian_mirror)}"
    ROOTFS_PARENT="$(mktemp -d /var/tmp/lab-rootfs.XXXXXX)"
    rootfs="$ROOTFS_PARENT/rootfs"
    log "debootstrap $SUITE from $mirror into $rootfs"
    t0=$(now)
    # python3-dev is left out on purpose: the Dockerfile's build stage installs it (with gcc and
    # libev-dev) because the runtime stages, built on the same base, should not carry headers.
    # No system pip either: python3-venv's ensurepip puts pip in the build stage's venv.
    debootstrap --variant=minbase \
        --include=python3,python3-venv,ca-certificates,libev4 \
        "$SUITE" "$rootfs" "$mirror" >"$ROOTFS_PARENT/debootstrap.log" 2>&1 || {
            tail -n 30 "$ROOTFS_PARENT/debootstrap.log" >&2; die "debootstrap failed"; }
    echo "debootstrap: $(( $(now) - t0 )) s" >&2
    umount_below "$rootfs"
    if awk -v d="$rootfs" 'index($2, d "/") == 1 { f = 1 } END { exit !f }' /proc/mounts; then
        die "something is still mounted below $rootfs"
    fi
    # Like the official Debian images: apt in derived images deletes the .debs it downloads.
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    slim_rootfs "$rootfs"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
           "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
    log "docker import -> $LAB_BASE ($(du -sh "$rootfs" | cut -f1) rootfs)"
    t0=$(now)
    tar --numeric-owner -C "$rootfs" -c . | docker import \
        -c 'ENV LANG=C.UTF-8' \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'CMD ["/bin/bash"]' \
        -m "debootstrap --variant=minbase $SUITE ($mirror)" - "$LAB_BASE" >/dev/null
    echo "docker import: $(( $(now) - t0 )) s" >&2
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$LAB_BASE")" ]; then
        OLD_BASE_ID="$old_id"  # removed after the build, once nothing of ours is based on it
    fi
    cleanup
    ROOTFS_PARENT=""
}

if [ "${LAB_REBUILD_BASE:-0}" != "1" ] && docker image inspect "$LAB_BASE" >/dev/null 2>&1; then
    log "base image $LAB_BASE exists: reusing it (LAB_REBUILD_BASE=1 to rebuild)"
else
    build_base
fi
docker run --rm "$LAB_BASE" python3 -c 'import sys, venv; print("base python", sys.version.split()[0])' \
    || die "$LAB_BASE has no working python3"

# ---------------------------------------------------------------- 2. host wheelhouse
# The image's interpreter (3.11) and libc must match the host's for host-built wheels to install.
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$PYTHON is not Python 3.11: its wheels would not install in the image"
if ! [ -f /usr/include/ev.h ]; then apt_install libev-dev; fi
command -v gcc >/dev/null || apt_install gcc libc6-dev
t0=$(now)
resolve_offline() {  # resolve_offline [ARGS]: resolve the requirements from wheels/ alone
    "$PYTHON" -m pip install --disable-pip-version-check -q --dry-run --ignore-installed \
        --no-index --find-links wheels "${REQUIREMENTS[@]}" "$@"
}
if [ "${LAB_REFRESH_WHEELS:-0}" != "1" ] && [ -d wheels ] && resolve_offline >/dev/null 2>&1; then
    log "wheels/ already satisfies ${REQUIREMENTS[*]}: no pip wheel (LAB_REFRESH_WHEELS=1 to redo)"
else
    log "pip wheel ${REQUIREMENTS[*]} -w wheels (host, $("$PYTHON" --version))"
    # The index here sometimes answers "from versions: none" for a package it has: try 3 times.
    for attempt in 1 2 3; do
        "$PYTHON" -m pip wheel --disable-pip-version-check -q "${REQUIREMENTS[@]}" -w wheels && break
        [ "$attempt" -lt 3 ] || die "pip wheel failed 3 times"
        echo "pip wheel failed (attempt $attempt): trying again" >&2
    done
fi
# Drop wheels that the requirements no longer resolve to (old pins): they would only grow the
# build context and change the COPY layer. The resolution is done offline against wheels/ itself.
resolve_offline --report wheels/.report.json
"$PYTHON" - <<'PY'
import json, os, urllib.parse
report = json.load(open("wheels/.report.json"))
keep = {os.path.basename(urllib.parse.unquote(i["download_info"]["url"])) for i in report["install"]}
for name in sorted(os.listdir("wheels")):
    if name.endswith(".whl") and name not in keep:
        print("removing stale wheel", name)
        os.remove(os.path.join("wheels", name))
os.remove("wheels/.report.json")
PY
echo "wheelhouse: $(( $(now) - t0 )) s, $(ls wheels/*.whl | wc -l) wheels, $(du -sh wheels | cut -f1)" >&2

# ---------------------------------------------------------------- 3. images
# The venv stages are built and tagged first ($LAB_CACHE_IMAGE:server-venv, :runner-venv) so that
# they are not "dangling": that keeps their layers as build cache for the next run while the prune
# below removes only superseded stages/images. The images' own builds then reuse them.
# LAB_VENVS_ONLY=1 stops after the venvs (each keeps its pip freeze in /opt/venv/packages.txt).
# Extra arguments go to every docker build (e.g. --network=none, --no-cache).
BUILD_ARGS=(--force-rm
    --build-arg BASE_IMAGE="$LAB_BASE"
    --build-arg PIP_WHEEL_ARGS="--no-index --find-links=/hostwheels")
build_target() {  # build_target TARGET TAG [docker build args]
    local target="$1" tag="$2" t0
    shift 2
    log "docker build --target $target -> $tag (base $LAB_BASE, host wheels only)"
    t0=$(now)
    docker build "${BUILD_ARGS[@]}" --target "$target" -t "$tag" "$@" .
    echo "docker build $target: $(( $(now) - t0 )) s" >&2
}
build_target server-venv "$LAB_CACHE_IMAGE:server-venv" "$@"
build_target runner-venv "$LAB_CACHE_IMAGE:runner-venv" "$@"
if [ "${LAB_VENVS_ONLY:-0}" != "1" ]; then
    build_target server "$LAB_SERVER_IMAGE" "$@"
    build_target runner "$LAB_RUNNER_IMAGE" "$@"
fi

# ---------------------------------------------------------------- 4. clean up
# The legacy builder leaves each build stage as an untagged image, and a rebuilt image leaves the
# previous one untagged: prune only dangling images that carry our stage label.
log "pruning dangling images labelled $STAGE_LABEL"
docker image prune -f --filter "label=$STAGE_LABEL" | tail -n1 >&2
# (the prune usually takes the previous base with it, as the untagged parent of pruned images)
if [ -n "$OLD_BASE_ID" ] && docker image inspect "$OLD_BASE_ID" >/dev/null 2>&1; then
    docker image rm "$OLD_BASE_ID" >/dev/null 2>&1 \
        && echo "removed the previous $LAB_BASE ($OLD_BASE_ID)" >&2 \
        || echo "note: previous $LAB_BASE ($OLD_BASE_ID) still in use, left in place" >&2
fi

if [ "${LAB_VENVS_ONLY:-0}" = "1" ]; then
    log "done: $LAB_CACHE_IMAGE:server-venv and :runner-venv (LAB_VENVS_ONLY=1: no images)"
    exit 0
fi
docker run --rm "$LAB_SERVER_IMAGE" python -c 'import bjoern, gunicorn, waitress, flask; print("server image ok")'
docker run --rm "$LAB_RUNNER_IMAGE" python -c 'import locust, matplotlib, docker; print("runner image ok")'
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }
log "done: $LAB_SERVER_IMAGE ($(size "$LAB_SERVER_IMAGE")), $LAB_RUNNER_IMAGE ($(size "$LAB_RUNNER_IMAGE"))"
