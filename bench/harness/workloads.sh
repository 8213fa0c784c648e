# shellcheck shell=bash
# Sourced by scripts/bench.sh: one function per workload, each measuring one path once from the
# client pod (pinned to CPU 0) and appending samples to $SAMPLES (workload, path, layout, value,
# unit; tab-separated). A Ferry path's sample is kept only if the agents' own counters show
# that the mesh carried the traffic (see check_counters).
#
# Paths: "NAME NAMESPACE TARGET_DEPLOY LAYOUT" (see PATHS in bench.sh).

record() {  # record WORKLOAD PATH LAYOUT VALUE UNIT
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$PENDING"
}

# sockperf ping-pong, 64 B, TCP, round-trip times: p50, p99 and p99.9 in µs. sockperf gives
# percentiles over all of a run's round trips, a long-standing tool with no agent-specific code.
measure_rtt() {  # measure_rtt PATH NS IP LAYOUT
  local out
  out=$(pod_exec "$2" client taskset -c 0 sockperf ping-pong --tcp -i "$3" -p 11111 -m 64 -t "$MEASURE_SECONDS" \
        --full-rtt 2>&1 | sed 's/\x1b\[[0-9;]*m//g') || { echo "bench: sockperf failed on $1" >&2; return 1; }
  local p50 p99 p999
  p50=$(awk '/percentile 50.000 =/ { print $NF }' <<<"$out")
  p99=$(awk '/percentile 99.000 =/ { print $NF }' <<<"$out")
  p999=$(awk '/percentile 99.900 =/ { print $NF }' <<<"$out")
  [[ -n "$p50" && -n "$p99" ]] || { echo "bench: no percentiles from sockperf on $1: $out" >&2; return 1; }
  record rtt64_p50 "$1" "$4" "$p50" us
  record rtt64_p99 "$1" "$4" "$p99" us
  [[ -n "$p999" ]] && record rtt64_p999 "$1" "$4" "$p999" us
  # The whole distribution, for the chart: series, percentile, µs.
  awk -v series="$1 ($4)" '/percentile [0-9.]+ =/ { print series "\t" $4 "\t" $NF }' <<<"$out" >>"$PENDING.lat"
  MEASURED_CONNECTIONS=1 MEASURED_BYTES=0
}

# iperf3, one stream, client → server, received bits per second in Gbit/s.
measure_throughput() {  # measure_throughput PATH NS IP LAYOUT
  local out gbps bytes
  out=$(pod_exec "$2" client taskset -c 0 iperf3 -c "$3" -p 5201 -t "$MEASURE_SECONDS" -J 2>&1) \
    || { echo "bench: iperf3 failed on $1: $(jq -r '.error // empty' <<<"$out" 2>/dev/null)" >&2; return 1; }
  gbps=$(jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$out")
  bytes=$(jq -r '.end.sum_received.bytes' <<<"$out")
  record throughput "$1" "$4" "$gbps" Gbit/s
  MEASURED_CONNECTIONS=2 MEASURED_BYTES=$bytes  # iperf3's control connection and its data stream
}

# ferry-bench-connrate: new connections per second, each with a 1-byte exchange.
measure_connrate() {  # measure_connrate PATH NS IP LAYOUT
  local out rate
  out=$(pod_exec "$2" client taskset -c 0 "$CONNRATE_BIN" client --to "$3:7000" --seconds "$MEASURE_SECONDS" \
        --threads 2 2>&1) || { echo "bench: connrate failed on $1: $out" >&2; return 1; }
  rate=$(jq -r '.per_second' <<<"$out")
  record connrate "$1" "$4" "$rate" conn/s
  MEASURED_CONNECTIONS=$(jq -r '.connections' <<<"$out") MEASURED_BYTES=0
}

# Sums of the counters that prove an agent carried traffic: accepted connections, bytes client →
# upstream, and tunnel legs that reached the data phase (kTLS or user space).
counters() {  # counters NODE_INDEX -> "accepted bytesOut legs"
  agent_status "$1" | jq -r '.proxy | "\(.accepted) \(.bytesOut) \(.legsKtls + .legsUserspace)"'
}

# A Ferry row whose agents' counters did not rise by what the client did was not meshed.
check_counters() {  # check_counters PATH BEFORE1 AFTER1 BEFORE2 AFTER2
  local path=$1 b1=($2) a1=($3) b2=($4) a2=($5)
  local accepted=$((a1[0] - b1[0])) bytes=$((a1[1] - b1[1]))
  if ((accepted < MEASURED_CONNECTIONS)); then
    echo "bench: REJECTED $path: node-1's agent accepted $accepted connections, the client made $MEASURED_CONNECTIONS" >&2
    return 1
  fi
  if ((bytes * 2 < MEASURED_BYTES)); then
    echo "bench: REJECTED $path: node-1's agent relayed $bytes bytes, the client sent $MEASURED_BYTES" >&2
    return 1
  fi
  if [[ "$path" == ferry-cross-node ]] && ((a2[2] - b2[2] < MEASURED_CONNECTIONS)); then
    echo "bench: REJECTED $path: node-2's agent set up $((a2[2] - b2[2])) tunnel legs, expected $MEASURED_CONNECTIONS" >&2
    return 1
  fi
  COUNTER_NOTE="[node-1 agent: +$accepted conns, +$bytes B; node-2: +$((a2[2] - b2[2])) tunnel legs]"
}

# Measures one workload on one path; for Ferry paths, keeps the samples only if the counters rose.
measure() {  # measure WORKLOAD PATH NS TARGET_DEPLOY LAYOUT
  local workload=$1 path=$2 ns=$3 ip before1="" before2="" after1="" after2=""
  COUNTER_NOTE=""
  ip=$(pod_ip "$ns" "$4")
  PENDING=$(mktemp "$WORK/pending.XXXXXX")
  if [[ "$path" == ferry-* ]]; then before1=$(counters 1); before2=$(counters 2); fi
  if ! "measure_$workload" "$path" "$ns" "$ip" "$5"; then
    rm -f "$PENDING" "$PENDING.lat"; FAILURES+=("$workload on $path"); return 0
  fi
  if [[ "$path" == ferry-* ]]; then
    after1=$(counters 1); after2=$(counters 2)
    if ! check_counters "$path" "$before1" "$after1" "$before2" "$after2"; then
      rm -f "$PENDING" "$PENDING.lat"; FAILURES+=("$workload on $path (rejected: agent counters did not rise)"); return 0
    fi
  fi
  printf '  %-10s %-18s %-10s %s %s\n' "$workload" "$path" "$5" "$(cut -f1,4,5 "$PENDING" | tr '\t\n' ' ;')" \
    "$COUNTER_NOTE"
  cat "$PENDING" >>"$SAMPLES"
  [[ -f "$PENDING.lat" ]] && cat "$PENDING.lat" >>"$LATENCY"
  rm -f "$PENDING" "$PENDING.lat"
}
