#!/usr/bin/env bash
# The lab's wrk peak against a standalone wrk, on bjoern plaintext (README "Peak capacity with wrk").
# Three pairs, one after the other, so that a drifting machine weighs on both sides alike:
# 1. `python -m lab bench` measures bjoern x plaintext: one wrk peak, the lab's way (server started
#    and pinned by the lab, locust before it, the generated Lua script, the checked run after);
# 2. a plain `wrk -t1 -cC -dDs` against bjoern started by hand on the same server CPU.
# Prints both medians and the gap; the lab promises +-5 %.  Run it on a quiet machine.
#   SERVER_CPU (0), GENERATOR_CPU (1), USERS (32), WRK_SECONDS (5)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SERVER_CPU=${SERVER_CPU:-0} GENERATOR_CPU=${GENERATOR_CPU:-1} USERS=${USERS:-32} SECONDS_=${WRK_SECONDS:-5}
out=$(mktemp -d)
trap '[ -n "${server:-}" ] && kill "$server"; rm -rf "$out"' EXIT

port=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
taskset --cpu-list "$SERVER_CPU" "$PY" -m servers.bjoern --host 127.0.0.1 --port "$port" app:application >"$out/bjoern.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/plaintext" >/dev/null && break; sleep 0.1; done

lab="" standalone=""
for round in 1 2 3; do
    "$PY" -m lab bench --servers bjoern --scenarios plaintext --users "$USERS" --duration 2 --warmup 1 \
        --wrk-duration "$SECONDS_" --server-cpus "$SERVER_CPU" --generator-cpus "$GENERATOR_CPU" \
        --calibration off --compare-rate off --out "$out/runs" >/dev/null 2>&1
    lab="$lab $("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['cells'][0]['wrk_rps'])" "$out/runs/latest/results.json")"
    standalone="$standalone $(taskset --cpu-list "$GENERATOR_CPU" wrk -t1 -c"$USERS" -d"${SECONDS_}s" \
        "http://127.0.0.1:$port/plaintext" | awk '/Requests\/sec/ {print $2}')"
done
"$PY" - "$lab" "$standalone" <<'PYEOF'
import statistics, sys
lab, alone = [list(map(float, arg.split())) for arg in sys.argv[1:3]]
m_lab, m_alone = statistics.median(lab), statistics.median(alone)
print(f"lab wrk peak:   {lab} -> median {m_lab:,.0f} rps")
print(f"standalone wrk: {alone} -> median {m_alone:,.0f} rps")
print(f"gap: {100 * (m_lab / m_alone - 1):+.1f} %  (pairs: " +
      ", ".join(f"{100 * (a / b - 1):+.1f} %" for a, b in zip(lab, alone)) + ")")
PYEOF
