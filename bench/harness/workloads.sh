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

# Port of a path's HTTP server: "-l4" paths reach the one under the TCPRoute (relayed at L4),
# the others the one under the HTTPRouteGroup (the agent's HTTP session; plain TCP for direct,
# HAProxy's HTTP mode for the HAProxy paths).
http_port() {  # http_port PATH
  if [[ "$1" == *-l4 ]]; then echo "$HTTP_L4_PORT"; else echo "$HTTP_L7_PORT"; fi
}

# The processes whose CPU a path costs: both agents for Ferry, the HAProxy pods for HAProxy.
proxy_pids() {  # proxy_pids PATH
  case $1 in
    ferry-*) agent_pid 1; agent_pid 2 ;;
    haproxy-relay) pod_pids bench-plain relay ;;
    haproxy-mtls-pair) pod_pids bench-plain mtls-c; pod_pids bench-plain mtls-s ;;
  esac
}

# The node whose agent holds the HTTP session of a Ferry path (the destination's).
http_session_node() {  # http_session_node PATH
  if [[ "$1" == ferry-cross-node* ]]; then echo 2; else echo 1; fi
}

# ferry-bench-http, 1 KB responses over keep-alive connections:
#   http1k_p50/p99: open loop at $HTTP_RATE requests/s for $HTTP_SECONDS on 8 connections, latency
#     from each request's due time (the report adds http1k_added_p99 = p99 − direct's p99);
#   http1k_max_rps: closed loop on 16 connections for $MEASURE_SECONDS (saturation);
#   cpu_us_per_request: the proxies' CPU time over the saturation run / requests completed.
measure_http() {  # measure_http PATH NS IP LAYOUT
  local port out sat pids=() cpu0 cpu1 requests http0=0 http1=0 node
  port=$(http_port "$1")
  node=$(http_session_node "$1")
  [[ "$1" == ferry-* ]] && http0=$(agent_http_requests "$node")
  out=$(pod_exec "$2" client taskset -c 0 "$HTTP_BIN" load --to "$3:$port" --rate "$HTTP_RATE" \
        --seconds "$HTTP_SECONDS" --connections 8 2>&1) || { echo "bench: http open loop failed on $1: $out" >&2; return 1; }
  record http1k_p50 "$1" "$4" "$(jq -r '.p50_us' <<<"$out")" us
  record http1k_p99 "$1" "$4" "$(jq -r '.p99_us' <<<"$out")" us
  # What a closed-loop tool would have reported (latency from the actual send), to show the correction.
  record http1k_p99_from_send "$1" "$4" "$(jq -r '.from_send_p99_us' <<<"$out")" us
  requests=$(jq -r '.requests' <<<"$out")
  HTTP_NOTE="open loop: from-send p99 $(jq -r '.from_send_p99_us' <<<"$out") us, $(jq -r '.late_sends' <<<"$out") sends >1 ms late"
  mapfile -t pids < <(proxy_pids "$1")
  ((${#pids[@]})) && cpu0=$(cpu_us "${pids[@]}")
  sat=$(pod_exec "$2" client taskset -c 0 "$HTTP_BIN" load --to "$3:$port" --rate 0 --seconds "$MEASURE_SECONDS" \
        --connections 16 2>&1) || { echo "bench: http saturation failed on $1: $sat" >&2; return 1; }
  record http1k_max_rps "$1" "$4" "$(jq -r '.per_second' <<<"$sat")" req/s
  if ((${#pids[@]})); then
    cpu1=$(cpu_us "${pids[@]}")
    record cpu_us_per_request "$1" "$4" "$(jq -n --argjson c $((cpu1 - cpu0)) --argjson r "$(jq -r '.requests' <<<"$sat")" \
      '$c / $r * 100 | round / 100')" us
  fi
  requests=$((requests + $(jq -r '.requests' <<<"$sat")))
  MEASURED_CONNECTIONS=24 MEASURED_BYTES=0
  if [[ "$1" == ferry-* ]]; then
    # The claim "HTTP session" or "L4 relay" is checked on the destination agent's own metrics.
    http1=$(agent_http_requests "$node")
    if [[ "$1" == *-l4 ]] && ((http1 - http0 >= requests)); then
      echo "bench: REJECTED $1: node-$node's agent counted $((http1 - http0)) HTTP requests on an L4 path" >&2; return 1
    elif [[ "$1" != *-l4 ]] && ((http1 - http0 < requests)); then
      echo "bench: REJECTED $1: node-$node's agent counted $((http1 - http0)) HTTP requests, the client made $requests" >&2
      return 1
    fi
    HTTP_NOTE+="; node-$node agent: +$((http1 - http0)) HTTP requests"
  fi
}

# Sums of the counters that prove an agent carried traffic: accepted connections, bytes client →
# upstream, tunnel legs that reached the data phase (kTLS or user space), and of those the ones
# whose TLS handshake resumed a session.
counters() {  # counters NODE_INDEX -> "accepted bytesOut legs resumedLegs"
  agent_status "$1" | jq -r '.proxy | "\(.accepted) \(.bytesOut) \(.legsKtls + .legsUserspace) \(.legsResumed)"'
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
  if [[ "$path" == ferry-cross-node* ]] && ((a2[2] - b2[2] < MEASURED_CONNECTIONS)); then
    echo "bench: REJECTED $path: node-2's agent set up $((a2[2] - b2[2])) tunnel legs, expected $MEASURED_CONNECTIONS" >&2
    return 1
  fi
  COUNTER_NOTE="[node-1 agent: +$accepted conns, +$bytes B; node-2: +$((a2[2] - b2[2])) tunnel legs, $((a2[3] - b2[3])) resumed]"
}

# Measures one workload on one path; for Ferry paths, keeps the samples only if the counters rose.
measure() {  # measure WORKLOAD PATH NS TARGET_DEPLOY LAYOUT
  local workload=$1 path=$2 ns=$3 ip before1="" before2="" after1="" after2=""
  COUNTER_NOTE="" HTTP_NOTE=""
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
    "$COUNTER_NOTE${HTTP_NOTE:+ [$HTTP_NOTE]}"
  cat "$PENDING" >>"$SAMPLES"
  [[ -f "$PENDING.lat" ]] && cat "$PENDING.lat" >>"$LATENCY"
  rm -f "$PENDING" "$PENDING.lat"
}
