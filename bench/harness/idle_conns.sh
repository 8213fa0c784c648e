# shellcheck shell=bash
# Sourced by scripts/bench.sh: rss_per_conn, the agents' memory per idle proxied connection.
# The mesh client pod opens N connections to a server pod's ferry-bench-http under the TCPRoute
# (relayed at L4), one 1 KB exchange on each, then keeps them idle; the row is the growth of the
# agents' VmRSS over N. N is 10 000 unless the agents' file limit allows fewer (each proxied
# connection holds two fds in each agent it crosses; see agent_connection_capacity).

# Waits until the agent on NODE carries at most MAX live connections (the last run's are gone).
wait_agent_active_at_most() {  # wait_agent_active_at_most NODE MAX [SECONDS]
  local deadline=$((SECONDS + ${3:-60})) active
  while ((SECONDS < deadline)); do
    active=$(agent_status "$1" | jq -r '.proxy.active')
    ((active <= $2)) && return 0
    sleep 1
  done
  echo "bench: node-$1's agent still carries $active connections" >&2
  return 1
}

# How many idle connections to open: WANTED, or what the agents can carry with some headroom.
idle_connection_count() {  # idle_connection_count WANTED
  local cap1 cap2 n=$1
  cap1=$(agent_connection_capacity 1)
  cap2=$(agent_connection_capacity 2)
  ((cap1 - 300 < n)) && n=$((cap1 - 300))
  ((cap2 - 300 < n)) && n=$((cap2 - 300))
  echo "$n"
}

# Opens the connections from bench-mesh/client to TARGET (srv-a: same node, srv-b: across the
# tunnel), samples the agents' RSS with them open, and closes them.
measure_idle_connections() {  # measure_idle_connections PATH TARGET_DEPLOY LAYOUT N
  local path=$1 layout=$3 n=$4 ip out pid job nodes=(1) node before=() after=() added=0 per_node=""
  [[ "$path" == ferry-cross-node* ]] && nodes=(1 2)
  ip=$(pod_ip bench-mesh "$2")
  for node in "${nodes[@]}"; do wait_agent_active_at_most "$node" 50 || return 1; done
  for node in "${nodes[@]}"; do before[$node]=$(agent_rss_kib "$node"); done
  local accepted0 legs0=0
  accepted0=$(agent_status 1 | jq -r '.proxy.accepted')
  [[ "$path" == ferry-cross-node* ]] && legs0=$(counters 2 | cut -d' ' -f3)
  # One retry if the holder dies before reporting (seen once, not reproduced: its exit status
  # and stderr are printed).
  local attempt
  for attempt in 1 2; do
    start_holder "$ip" "$n"
    grep -q '"established"' "$WORK/hold.out" 2>/dev/null && break
    wait "$job"
    echo "bench: $path: the idle-connection holder exited with status $? before reporting: $(cat "$WORK/hold.out")" >&2
    wait_agent_active_at_most 1 50 || return 1
  done
  out=$(grep '"established"' "$WORK/hold.out")
  pid=$(jq -r '.pid // empty' <<<"$out" 2>/dev/null)
  local ok=1 established active1 accepted legs
  established=$(jq -r '.established // 0' <<<"$out" 2>/dev/null)
  ((established == n)) || { echo "bench: $path: $established of $n idle connections established: $(cat "$WORK/hold.out")" >&2; ok=0; }
  if ((ok)); then
    sleep 2  # let the agents finish whatever the last setups left (tickets, buffers returned)
    for node in "${nodes[@]}"; do after[$node]=$(agent_rss_kib "$node"); done
    # Every connection must be one the agents carry: accepted by node-1 and live there (and set
    # up as a tunnel leg by node-2 across nodes).
    accepted=$(($(agent_status 1 | jq -r '.proxy.accepted') - accepted0))
    active1=$(agent_status 1 | jq -r '.proxy.active')
    if ((accepted < n || active1 < n)); then
      echo "bench: REJECTED rss_per_conn $path: node-1's agent accepted $accepted and carries $active1 of $n" >&2; ok=0
    fi
    if [[ "$path" == ferry-cross-node* ]]; then
      legs=$(($(counters 2 | cut -d' ' -f3) - legs0))
      ((legs >= n)) || { echo "bench: REJECTED rss_per_conn $path: node-2's agent set up $legs tunnel legs for $n" >&2; ok=0; }
    fi
  fi
  # The holder is this run's own process (its pid is in its report); ferryctl exec then returns.
  if [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == ferry-bench-htt* ]]; then
    kill "$pid"
  else
    kill "$job" 2>/dev/null
  fi
  wait "$job" 2>/dev/null
  ((ok)) || return 1
  local legs_text=""
  [[ -n "${legs:-}" ]] && legs_text=", node-2's set up $legs tunnel legs"
  for node in "${nodes[@]}"; do
    added=$((added + after[node] - before[node]))
    per_node+="${per_node:+, }node-$node $(((after[node] - before[node]) / 1024)) MiB"
  done
  record_sample rss_per_conn "$path" "$layout" "$(jq -n --argjson a "$added" --argjson n "$n" '$a / $n * 100 | round / 100')" KiB
  NOTES+=("rss_per_conn $path: $n idle connections (one 1 KB exchange each, port $HTTP_L4_PORT under the TCPRoute, L4 relay) added $((added / 1024)) MiB of agent VmRSS ($per_node); node-1's agent accepted $accepted$legs_text")
  printf '  %-10s %-18s %-10s %s KiB per connection (%s; %s connections, +%s accepted)\n' rss_per_conn "$path" "$layout" \
    "$(jq -n --argjson a "$added" --argjson n "$n" '$a / $n * 100 | round / 100')" "$per_node" "$n" "$accepted"
}

# Starts ferry-bench-http hold in the client pod (job id in $job) and waits for its report.
start_holder() {  # start_holder IP N
  pod_exec bench-mesh client "$HTTP_BIN" hold --to "$1:$HTTP_L4_PORT" --connections "$2" --in-flight 64 \
    --hold-seconds 600 >"$WORK/hold.out" 2>&1 &
  job=$!
  local deadline=$((SECONDS + 300))
  until grep -q '"established"' "$WORK/hold.out" 2>/dev/null || ((SECONDS > deadline)) || ! kill -0 "$job" 2>/dev/null; do
    sleep 1
  done
}

record_sample() {  # record_sample WORKLOAD PATH LAYOUT VALUE UNIT -> $SAMPLES directly
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SAMPLES"
}
