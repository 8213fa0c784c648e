#!/usr/bin/env bash
# Benchmarks Ferry side by side with no mesh and with HAProxy (issue #7), in one run on a local
# 2-node cluster: the same workloads over each path, repeated and interleaved, medians reported
# with their ratio to the direct path of the same run. Not run by the test suite.
#
#   ./scripts/bench.sh [--repeats N] [--seconds S] [--http-seconds S] [--paths "direct ferry-same-node ..."]
#                      [--workloads "rtt throughput connrate http"]
#                      [--idle-connections N (10000; 0 = skip)] [--build-dir DIR] [--no-build] [--harness-dir DIR]
#                      [--out FILE] [--png FILE]
#
# Prints the table, writes bench/results/latest.json ({"date","machine","kernel","results":
# [{"workload","path","layout","value","unit","ratio_to_direct",...}]}) and the 64 B round-trip
# distribution per path to bench/results/latency.png. Needs root (netns,
# cgroups, BPF) and a machine without another `ferryctl local` cluster (fixed names).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)

REPEATS=3
MEASURE_SECONDS=3
HTTP_SECONDS=5   # the open-loop HTTP run: 5000 requests at 1000/s
HTTP_RATE=1000
IDLE_CONNECTIONS=10000  # rss_per_conn's target (fewer if the agents' file limit says so)
BUILD_DIR=build/release
BUILD=1
HARNESS_DIR=
OUT=bench/results/latest.json
PNG=bench/results/latency.png
WANTED_WORKLOADS="rtt throughput connrate http"
WANTED_PATHS="direct ferry-same-node ferry-cross-node ferry-same-node-l4 ferry-cross-node-l4 haproxy-relay haproxy-mtls-pair"
while (($#)); do
  case $1 in
    --repeats) REPEATS=$2; shift 2 ;;
    --seconds) MEASURE_SECONDS=$2; shift 2 ;;
    --http-seconds) HTTP_SECONDS=$2; shift 2 ;;
    --paths) WANTED_PATHS=$2; shift 2 ;;
    --workloads) WANTED_WORKLOADS=$2; shift 2 ;;
    --idle-connections) IDLE_CONNECTIONS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --harness-dir) HARNESS_DIR=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --png) PNG=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (network namespaces, cgroups, BPF)" >&2; exit 1; }

./scripts/setup.sh --bench || { echo "bench: setup failed" >&2; exit 1; }

# --- build ------------------------------------------------------------------------------------
BUILD_DIR=$(realpath -m "$BUILD_DIR")
# The harness's own tools; --harness-dir keeps them out of a build directory someone else owns.
HARNESS_DIR=$(realpath -m "${HARNESS_DIR:-$BUILD_DIR/bench-harness}")
build_all() {
  if ((BUILD)); then
    mkdir -p "$BUILD_DIR"
    cmake -S "$root" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD_DIR.configure.log" 2>&1 \
      || { cat "$BUILD_DIR.configure.log"; return 1; }
    cmake --build "$BUILD_DIR" -j "$(nproc)" --target ferryctl ferry-agent ferry-controller ferry-cni || return 1
  fi
  # The harness tools are standalone files: a plain compiler call, whatever the CMake tree holds.
  mkdir -p "$HARNESS_DIR"
  local tool header
  for tool in connrate:connrate_main.cc report:report_main.cc http:http_load_main.cc; do
    local src=bench/harness/${tool#*:} bin=$HARNESS_DIR/ferry-bench-${tool%%:*} stale=0
    [[ ! -x "$bin" || "$src" -nt "$bin" ]] && stale=1
    for header in bench/harness/*.h; do [[ "$header" -nt "$bin" ]] && stale=1; done
    if ((stale)); then
      g++ -O2 -std=c++20 -Wall -Wextra -Werror -pthread "$src" -o "$bin" || return 1
    fi
  done
}
build_all || { echo "bench: build failed" >&2; exit 1; }
FERRYCTL=$BUILD_DIR/cli/ferryctl
AGENT_BIN=$BUILD_DIR/agent/ferry-agent
CONTROLLER_BIN=$BUILD_DIR/controlplane/server/ferry-controller
CNI_BIN=$BUILD_DIR/cni/ferry-cni
CONNRATE_BIN=$HARNESS_DIR/ferry-bench-connrate
REPORT_BIN=$HARNESS_DIR/ferry-bench-report
HTTP_BIN=$HARNESS_DIR/ferry-bench-http
for bin in "$FERRYCTL" "$AGENT_BIN" "$CONTROLLER_BIN" "$CNI_BIN"; do
  [[ -x "$bin" ]] || { echo "bench: missing $bin" >&2; exit 1; }
done

# --- cluster ----------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/fbench-work.XXXXXX)
STATE=$(mktemp -d /tmp/fbench-state.XXXXXX)
SAMPLES=$WORK/samples.tsv
LATENCY=$WORK/latency.tsv
: >"$SAMPLES"
: >"$LATENCY"
FAILURES=()
NOTES=()
CLUSTER_UP=0
source bench/harness/cluster.sh
source bench/harness/haproxy.sh
source bench/harness/workloads.sh
source bench/harness/idle_conns.sh
source bench/harness/chart.sh

# Replaces the lines between README's results markers with FILE's content.
replace_readme_results() {  # replace_readme_results README FILE
  local readme=$1 body=$2
  grep -q '^<!-- bench:begin -->$' "$readme" && grep -q '^<!-- bench:end -->$' "$readme" || {
    echo "bench: $readme has no results markers" >&2; return 1; }
  awk -v body="$body" '
    /^<!-- bench:begin -->$/ { print; while ((getline line < body) > 0) print line; skip = 1; next }
    /^<!-- bench:end -->$/ { skip = 0 }
    !skip' "$readme" >"$readme.new" && mv "$readme.new" "$readme"
}

cleanup() {
  # A cluster that did not come down keeps its state: `ferryctl local down --state` needs it.
  cluster_down && rm -rf "$STATE"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$SECONDS
NOTES+=("load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: compare ratios, not absolute figures)")
echo "== cluster (2 nodes) in $STATE"
cluster_up || exit 1
for spec in "bench-plain client srv-a" "bench-plain client srv-b" "bench-mesh client srv-a" \
            "bench-mesh client srv-b" "bench-plain client relay" "bench-plain client mtls-c"; do
  set -- $spec
  wait_reachable "$1" "$2" "$(pod_ip "$1" "$3")" 90 || exit 1
done
for spec in "bench-plain client srv-a $HTTP_L7_PORT" "bench-mesh client srv-a $HTTP_L7_PORT" \
            "bench-mesh client srv-b $HTTP_L7_PORT" "bench-mesh client srv-b $HTTP_L4_PORT" \
            "bench-plain client relay $HTTP_L7_PORT" "bench-plain client mtls-c $HTTP_L7_PORT"; do
  set -- $spec
  wait_http "$1" "$2" "$(pod_ip "$1" "$3")" "$4" 90 || exit 1
done

# Agents' memory before any benchmark traffic (one sample per agent).
for node in 1 2; do
  rss=$(agent_rss_mb "$node")
  printf 'rss_idle\tferry-cross-node\tper-agent\t%s\tMB\n' "$rss" >>"$SAMPLES"
  NOTES+=("node-$node agent VmRSS before the run: $rss MB")
done
ktls=$(agent_status 1 | jq -r '.kernelTls')
if [[ "$ktls" == true ]]; then
  NOTES+=("ferry-cross-node: the tunnel used kTLS")
else
  NOTES+=("ferry-cross-node: kTLS is off on this kernel ($(uname -r); the agent reports kernelTls=false): TLS records are sealed and opened by OpenSSL in the agent's workers")
fi

# --- measurements -----------------------------------------------------------------------------
# name namespace target layout; "direct" is measured in both layouts (each Ferry/HAProxy row is
# compared with the direct row of its own layout).
ALL_PATHS=(
  "direct bench-plain srv-a same-node"
  "direct bench-plain srv-b cross-node"
  "ferry-same-node bench-mesh srv-a same-node"
  "ferry-cross-node bench-mesh srv-b cross-node"
  "ferry-same-node-l4 bench-mesh srv-a same-node"
  "ferry-cross-node-l4 bench-mesh srv-b cross-node"
  "haproxy-relay bench-plain relay same-node"
  "haproxy-mtls-pair bench-plain mtls-c cross-node"
)
PATHS=()
for p in "${ALL_PATHS[@]}"; do
  [[ " $WANTED_PATHS " == *" ${p%% *} "* ]] && PATHS+=("$p")
done

for ((rep = 1; rep <= REPEATS; rep++)); do
  echo "== repetition $rep/$REPEATS ($((SECONDS - started)) s)"
  for workload in $WANTED_WORKLOADS; do
    # Rotate the order each repetition so no path always runs first (or right after another).
    n=${#PATHS[@]}
    for ((i = 0; i < n; i++)); do
      set -- ${PATHS[$(((i + rep) % n))]}
      # The "-l4" paths differ from the others only for HTTP (which port's rule applies).
      [[ "$1" == *-l4 && "$workload" != http ]] && continue
      measure "$workload" "$1" "$2" "$3" "$4"
    done
  done
done

if ((IDLE_CONNECTIONS)); then
  idle_n=$(idle_connection_count "$IDLE_CONNECTIONS")
  echo "== idle connections: $idle_n per path ($((SECONDS - started)) s)"
  if ((idle_n < IDLE_CONNECTIONS)); then
    NOTES+=("rss_per_conn: $idle_n idle connections, not $IDLE_CONNECTIONS: the agents' RLIMIT_NOFILE is $(awk '/^Max open files/ { print $4 }' "/proc/$(agent_pid 1)/limits") (the hard limit here; raising it needs CAP_SYS_RESOURCE), which allows $(agent_connection_capacity 1) proxied connections per agent (two fds each, 4096 reserved)")
  fi
  for spec in "ferry-same-node srv-a same-node" "ferry-cross-node srv-b cross-node"; do
    set -- $spec
    [[ " $WANTED_PATHS " == *" $1 "* ]] || continue
    measure_idle_connections "$1" "$2" "$3" "$idle_n" || FAILURES+=("rss_per_conn on $1")
  done
  sleep 35  # the idle connections are closed: one of the agents' 30 s heap trims (agent/main.cc)
fi
for node in 1 2; do
  NOTES+=("node-$node agent VmRSS after the run: $(agent_rss_mb "$node") MB")
done
NOTES+=("pinning: load generators on CPU 0, servers on CPU 1; agents, controller and HAProxy unpinned")
NOTES+=("haproxy-relay: HAProxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}') in its own pod on node-1 (one extra bridge hop compared with Ferry, whose sockets live in the pods' netns)")
NOTES+=("haproxy-mtls-pair: HAProxy pods on node-1 and node-2, TLS 1.3 with mutual P-256 certificates, AES-GCM suites, HAProxy's default session reuse")
NOTES+=("http1k: ferry-bench-http (bench/harness), 1 KB responses on keep-alive connections to the pods' IPs, messages framed by Content-Length (both ends are the tool). Open loop at $HTTP_RATE requests/s for $HTTP_SECONDS s on 8 connections, latency from each request's scheduled time (coordinated omission corrected); http1k_added_p99 = the path's p99 - direct's p99 of the same layout. Saturation: closed loop, 16 connections, $MEASURE_SECONDS s")
NOTES+=("http1k on ferry-same-node/ferry-cross-node: port $HTTP_L7_PORT under an HTTPRouteGroup rule only, as in the walkthrough (simple-app): the destination's agent runs its HTTP session and checks each request (verified on its ferry_requests_total); ferry-*-l4: port $HTTP_L4_PORT under the TCPRoute, relayed at L4 (verified: no HTTP requests counted). HAProxy paths: HTTP mode on port $HTTP_L7_PORT")
NOTES+=("cpu_us_per_request: CPU time (utime+stime, /proc/PID/stat) over the saturation run divided by the requests it completed: both agents for Ferry rows (agentPid), the HAProxy pods' processes for HAProxy rows")
for f in "${FAILURES[@]}"; do NOTES+=("not measured: $f"); done
cluster_down

# --- report -----------------------------------------------------------------------------------
machine="$(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
note_args=()
for n in "${NOTES[@]}"; do note_args+=(--note "$n"); done
mkdir -p "$(dirname "$OUT")"
echo "== results ($REPEATS repetitions of ${MEASURE_SECONDS} s, medians; $((SECONDS - started)) s)"
"$REPORT_BIN" --samples "$SAMPLES" --json "$OUT" --markdown "$WORK/results.md" \
  --date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --machine "$machine" --kernel "$(uname -r)" "${note_args[@]}"
status=$?
echo "wrote $OUT"
# The README shows the results of the last run written to the default place.
if [[ "$OUT" == bench/results/latest.json && $status -eq 0 ]]; then
  replace_readme_results README.md "$WORK/results.md" && echo "updated README.md's results"
fi
if [[ " $WANTED_WORKLOADS " != *" rtt "* ]]; then
  echo "no chart: the round trips (rtt) were not measured"
elif write_latency_chart "$LATENCY" "$PNG" "64 B TCP round trip, $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r) (medians of $REPEATS runs)"; then
  echo "wrote $PNG"
else
  status=1
fi
((${#FAILURES[@]} == 0)) || status=1
exit $status
