#!/usr/bin/env bash
# Benchmarks Ferry side by side with no mesh and with HAProxy (issue #7), in one run on a local
# 2-node cluster: the same workloads over each path, repeated and interleaved, medians reported
# with their ratio to the direct path of the same run. Not run by the test suite.
#
#   ./scripts/bench.sh [--repeats N] [--seconds S] [--paths "direct ferry-same-node ..."]
#                      [--build-dir DIR] [--no-build] [--harness-dir DIR] [--out FILE] [--png FILE]
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
BUILD_DIR=build/release
BUILD=1
HARNESS_DIR=
OUT=bench/results/latest.json
PNG=bench/results/latency.png
WANTED_PATHS="direct ferry-same-node ferry-cross-node haproxy-relay haproxy-mtls-pair"
while (($#)); do
  case $1 in
    --repeats) REPEATS=$2; shift 2 ;;
    --seconds) MEASURE_SECONDS=$2; shift 2 ;;
    --paths) WANTED_PATHS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --harness-dir) HARNESS_DIR=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --png) PNG=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
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
  local tool
  for tool in connrate report; do
    local src=bench/harness/${tool}_main.cc bin=$HARNESS_DIR/ferry-bench-$tool
    if [[ ! -x "$bin" || "$src" -nt "$bin" || bench/harness/bench_stats.h -nt "$bin" ]]; then
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
source bench/harness/chart.sh

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
  "haproxy-relay bench-plain relay same-node"
  "haproxy-mtls-pair bench-plain mtls-c cross-node"
)
PATHS=()
for p in "${ALL_PATHS[@]}"; do
  [[ " $WANTED_PATHS " == *" ${p%% *} "* ]] && PATHS+=("$p")
done

for ((rep = 1; rep <= REPEATS; rep++)); do
  echo "== repetition $rep/$REPEATS ($((SECONDS - started)) s)"
  for workload in rtt throughput connrate; do
    # Rotate the order each repetition so no path always runs first (or right after another).
    n=${#PATHS[@]}
    for ((i = 0; i < n; i++)); do
      set -- ${PATHS[$(((i + rep) % n))]}
      measure "$workload" "$1" "$2" "$3" "$4"
    done
  done
done

for node in 1 2; do
  NOTES+=("node-$node agent VmRSS after the run: $(agent_rss_mb "$node") MB")
done
NOTES+=("pinning: load generators on CPU 0, servers on CPU 1; agents, controller and HAProxy unpinned")
NOTES+=("haproxy-relay: HAProxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}') in its own pod on node-1 (one extra bridge hop compared with Ferry, whose sockets live in the pods' netns)")
NOTES+=("haproxy-mtls-pair: HAProxy pods on node-1 and node-2, TLS 1.3 with mutual P-256 certificates, AES-GCM suites, HAProxy's default session reuse")
NOTES+=("not measured yet: the HTTP, CPU-per-request and rss_per_conn rows")
for f in "${FAILURES[@]}"; do NOTES+=("not measured: $f"); done
cluster_down

# --- report -----------------------------------------------------------------------------------
machine="$(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
note_args=()
for n in "${NOTES[@]}"; do note_args+=(--note "$n"); done
mkdir -p "$(dirname "$OUT")"
echo "== results ($REPEATS repetitions of ${MEASURE_SECONDS} s, medians; $((SECONDS - started)) s)"
"$REPORT_BIN" --samples "$SAMPLES" --json "$OUT" --date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --machine "$machine" --kernel "$(uname -r)" "${note_args[@]}"
status=$?
echo "wrote $OUT"
if write_latency_chart "$LATENCY" "$PNG" "64 B TCP round trip, $(uname -r), $(date -u +%Y-%m-%d) (medians of $REPEATS runs)"; then
  echo "wrote $PNG"
else
  status=1
fi
((${#FAILURES[@]} == 0)) || status=1
exit $status
