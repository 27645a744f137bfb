#!/usr/bin/env bash
# Starts/stops a throwaway etcd on loopback for tests and local runs (reference/components.md §2).
#
#   scripts/etcd.sh start DIR [single|cluster3]   # data + logs + pids under DIR; waits for health
#   scripts/etcd.sh stop DIR                      # SIGTERM each pid in DIR/*.pid, waits, then SIGKILL
#   scripts/etcd.sh endpoints DIR                 # prints the client endpoints, comma separated
#   scripts/etcd.sh start-member DIR mI           # cluster3: restarts member I (1-3) on its data
#
# Ports: single = client 2379, peer 2380, metrics 2381; cluster3 = member i on client ${i}2379,
# peer ${i}2380 with fast failover (--heartbeat-interval=10 --election-timeout=100).
# ETCD_PORT_OFFSET (default 0) is added to every port so tests can run beside another etcd.
# ETCD_EXTRA_IP (optional) also binds every client port on that address (e.g. the host end of a
# veth pair, so a broker in a network namespace reaches etcd); peers stay on loopback.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
mode=${3:-single}
off=${ETCD_PORT_OFFSET:-0}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|endpoints DIR [single|cluster3]" >&2; exit 2; }

client_ports() {
  if [ "$(cat "$dir/mode" 2>/dev/null || echo "$mode")" = cluster3 ]; then
    echo "$((12379 + off)) $((22379 + off)) $((32379 + off))"
  else
    echo "$((2379 + off))"
  fi
}

endpoints() {
  local out=""
  for p in $(client_ports); do out="${out:+$out,}127.0.0.1:$p"; done
  echo "$out"
}

healthy() {  # $1 = client port
  curl -s --max-time 1 "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"health":"true"'
}

start_member() {  # name client peer cluster extra...
  local name=$1 client=$2 peer=$3 cluster=$4
  shift 4
  mkdir -p "$dir/$name"
  local listen="http://127.0.0.1:$client"
  [ -n "${ETCD_EXTRA_IP:-}" ] && listen="$listen,http://$ETCD_EXTRA_IP:$client"
  etcd --name "$name" --data-dir "$dir/$name" \
    --listen-client-urls "$listen" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$cluster" --initial-cluster-token shale-test --initial-cluster-state new \
    "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

start_cluster3_member() {  # i
  local i=$1 cl=""
  for j in 1 2 3; do cl="${cl:+$cl,}m$j=http://127.0.0.1:$((j * 10000 + 2380 + off))"; done
  start_member "m$i" "$((i * 10000 + 2379 + off))" "$((i * 10000 + 2380 + off))" "$cl" \
    --heartbeat-interval=10 --election-timeout=100
}

case "$cmd" in
start-member)
  i=${mode#m}
  [ "$(cat "$dir/mode" 2>/dev/null)" = cluster3 ] && [[ "$i" =~ ^[123]$ ]] ||
    { echo "etcd.sh: start-member needs a cluster3 DIR and m1|m2|m3" >&2; exit 2; }
  start_cluster3_member "$i"
  ;;
start)
  command -v etcd >/dev/null || { echo "etcd.sh: etcd not installed (scripts/install-deps.sh)" >&2; exit 1; }
  mkdir -p "$dir"
  echo "$mode" >"$dir/mode"
  case "$mode" in
  single)
    c=$((2379 + off)) p=$((2380 + off)) m=$((2381 + off))
    start_member s1 "$c" "$p" "s1=http://127.0.0.1:$p" --listen-metrics-urls "http://127.0.0.1:$m"
    ;;
  cluster3)
    for i in 1 2 3; do start_cluster3_member "$i"; done
    ;;
  *) echo "etcd.sh: unknown mode $mode" >&2; exit 2 ;;
  esac
  for _ in $(seq 1 150); do
    ok=1
    for p in $(client_ports); do healthy "$p" || ok=0; done
    if [ $ok = 1 ]; then echo "etcd.sh: $mode up at $(endpoints)"; exit 0; fi
    for f in "$dir"/*.pid; do
      kill -0 "$(cat "$f")" 2>/dev/null || { echo "etcd.sh: $(basename "$f" .pid) exited:" >&2; tail -5 "${f%.pid}.log" >&2; exit 1; }
    done
    sleep 0.1
  done
  echo "etcd.sh: not healthy after 15 s" >&2
  exit 1
  ;;
stop)
  for f in "$dir"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  ;;
endpoints) endpoints ;;
*) echo "usage: $0 start|stop|endpoints|start-member DIR [single|cluster3|mI]" >&2; exit 2 ;;
esac
