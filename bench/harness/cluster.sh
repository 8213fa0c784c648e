# shellcheck shell=bash
# Sourced by scripts/bench.sh: the local cluster the benchmark runs on, its manifests, and the
# agents' own counters. Expects: FERRYCTL, AGENT_BIN, CONTROLLER_BIN, CNI_BIN, CONNRATE_BIN,
# HTTP_BIN, STATE (state directory), WORK (scratch directory).
#
# Layout (every path uses the same pods' netns layout and the same pinning):
#   bench-plain (not in the mesh): client (node-1), srv-a (node-1), srv-b (node-2), relay (node-1, HAProxy)
#   bench-mesh (in the mesh):      client (node-1), srv-a (node-1), srv-b (node-2)
# Servers run pinned to CPU 1, the load generators (bench.sh) to CPU 0; the agents, the
# controller and HAProxy are not pinned.

# TCPRoute ports (relayed at L4): sockperf, iperf3, ferry-bench-connrate, ferry-bench-http (L4).
readonly BENCH_PORTS_YAML="[11111, 5201, 7000, 8081]"
# ferry-bench-http behind an HTTPRouteGroup rule only, as in the walkthrough (simple-app): the
# destination's agent runs its HTTP session and checks every request.
readonly HTTP_L7_PORT=8080 HTTP_L4_PORT=8081

ctl() { "$FERRYCTL" "$@" --state "$STATE"; }

# ferryctl local exec: --state goes before "--" (what follows belongs to the command).
pod_exec() {  # pod_exec NS DEPLOY CMD...
  local ns=$1 deploy=$2; shift 2
  "$FERRYCTL" local exec --state "$STATE" -n "$ns" "deploy/$deploy" -- "$@"
}

deployment_yaml() {  # deployment_yaml NS NAME NODE SERVICE_ACCOUNT COMMAND
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $2, namespace: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: $2}}
  template:
    metadata: {labels: {app: $2}}
    spec:
      serviceAccountName: $4
      nodeName: $3
      containers:
      - name: main
        image: local
        command: ["/bin/sh", "-c", "$5"]
EOF
}

servers_command() {
  echo "taskset -c 1 sockperf server --tcp -i 0.0.0.0 -p 11111 >/dev/null 2>&1 &" \
       "taskset -c 1 iperf3 -s -p 5201 >/dev/null 2>&1 &" \
       "taskset -c 1 $HTTP_BIN serve --port $HTTP_L7_PORT --body-bytes 1024 &" \
       "taskset -c 1 $HTTP_BIN serve --port $HTTP_L4_PORT --body-bytes 1024 &" \
       "taskset -c 1 $CONNRATE_BIN server --port 7000 --threads 2 & wait"
}

write_manifests() {  # -> $WORK/bench.yaml
  local servers; servers=$(servers_command)
  {
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: bench-plain}\n---\n'
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-mesh\n  labels: {ferry.sh/monitored-by: ferry}\n---\n'
    for ns in bench-plain bench-mesh; do
      for sa in client server; do
        printf 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: %s, namespace: %s}\n---\n' "$sa" "$ns"
      done
      deployment_yaml "$ns" client node-1 client "exec sleep 1000000"; echo "---"
      deployment_yaml "$ns" srv-a node-1 server "$servers"; echo "---"
      deployment_yaml "$ns" srv-b node-2 server "$servers"; echo "---"
    done
    cat <<EOF
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: server-from-client, namespace: bench-mesh}
spec:
  destination: {kind: ServiceAccount, name: server, namespace: bench-mesh}
  sources: [{kind: ServiceAccount, name: client, namespace: bench-mesh}]
  rules: [{kind: TCPRoute, name: bench-ports}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: bench-ports, namespace: bench-mesh}
spec: {matches: {ports: $BENCH_PORTS_YAML}}
---
apiVersion: specs.smi-spec.io/v1alpha3
kind: HTTPRouteGroup
metadata: {name: bench-http, namespace: bench-mesh}
spec:
  matches:
  - {name: bench, pathRegex: "/bench", methods: ["GET"]}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: server-http-from-client, namespace: bench-mesh}
spec:
  destination: {kind: ServiceAccount, name: server, namespace: bench-mesh}
  sources: [{kind: ServiceAccount, name: client, namespace: bench-mesh}]
  rules: [{kind: HTTPRouteGroup, name: bench-http, matches: [bench]}]
EOF
  } >"$WORK/bench.yaml"
}

pod_ip() {  # pod_ip NS DEPLOY  (pods are named <deploy>-<suffix>; cluster.json keeps IPs as numbers)
  ctl local get pods -o json |
    jq -r --arg ns "$1" --arg d "$2-" '.[] | select(.namespace == $ns and (.name | startswith($d))) | .ip' | head -1
}

# Waits until a client can finish a 1-byte exchange with NS/DEPLOY:7000 (servers up, policy in force).
wait_reachable() {  # wait_reachable NS FROM_DEPLOY IP [SECONDS]
  local deadline=$((SECONDS + ${4:-60}))
  while ((SECONDS < deadline)); do
    if pod_exec "$1" "$2" "$CONNRATE_BIN" client --to "$3:7000" --seconds 0.2 --threads 1 >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "bench: $1/$2 cannot reach $3:7000 within ${4:-60} s" >&2
  return 1
}

# Waits until one GET over NS/DEPLOY -> IP:PORT is answered 200 (servers up, HTTP policy in force).
wait_http() {  # wait_http NS FROM_DEPLOY IP PORT [SECONDS]
  local deadline=$((SECONDS + ${5:-60}))
  while ((SECONDS < deadline)); do
    if pod_exec "$1" "$2" "$HTTP_BIN" load --to "$3:$4" --rate 0 --seconds 0.2 --connections 1 >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "bench: $1/$2 cannot GET $3:$4/bench within ${5:-60} s" >&2
  return 1
}

cluster_up() {
  if ip link show ferry-ul0 >/dev/null 2>&1; then
    echo "bench: a local cluster is already running on this machine (ferry-ul0 exists); stop it first" >&2
    return 1
  fi
  ctl local up --nodes 2 --agent-bin "$AGENT_BIN" --controller-bin "$CONTROLLER_BIN" --cni-bin "$CNI_BIN" \
    >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; return 1; }
  CLUSTER_UP=1
  write_manifests
  ctl local apply -f "$WORK/bench.yaml" >"$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log" >&2; return 1; }
  haproxy_apply >>"$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log" >&2; return 1; }
}

cluster_down() {
  [[ "${CLUSTER_UP:-0}" == 1 ]] || return 0
  if ! ctl local down >"$WORK/down.log" 2>&1; then
    echo "bench: ferryctl local down failed (state kept in $STATE):" >&2
    cat "$WORK/down.log" >&2
    return 1
  fi
  CLUSTER_UP=0
}

# The agent's {"op":"status"} answer on its enrollment socket (one JSON line).
agent_status() {  # agent_status NODE_INDEX
  local sock
  sock=$(jq -r --argjson i "$1" '.nodes[] | select(.index == $i) | .enrollSocket' "$STATE/cluster.json")
  echo '{"op":"status"}' | socat -t 5 - "UNIX-CONNECT:$sock"
}

agent_pid() {  # agent_pid NODE_INDEX
  jq -r --argjson i "$1" '.nodes[] | select(.index == $i) | .agentPid' "$STATE/cluster.json"
}

agent_rss_mb() {  # agent_rss_mb NODE_INDEX -> VmRSS in MB (MiB)
  awk '/^VmRSS:/ { printf "%.2f\n", $2 / 1024 }' "/proc/$(agent_pid "$1")/status"
}

agent_rss_kib() {  # agent_rss_kib NODE_INDEX
  awk '/^VmRSS:/ { print $2 }' "/proc/$(agent_pid "$1")/status"
}

# How many proxied connections the agent's file limit lets it carry (agent/main.cc: two fds per
# connection above 4096 reserved ones); --max-connections is not set by ferryctl local.
agent_connection_capacity() {  # agent_connection_capacity NODE_INDEX
  awk '/^Max open files/ { print int(($4 - 4096) / 2) }' "/proc/$(agent_pid "$1")/limits"
}

# CPU time (user + system, all threads) of the given processes, in µs.
cpu_us() {  # cpu_us PID...
  local tck total=0 pid ticks
  tck=$(getconf CLK_TCK)
  for pid in "$@"; do
    # Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
    ticks=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }') || return 1
    total=$((total + ticks))
  done
  echo $((total * 1000000 / tck))
}

pod_pids() {  # pod_pids NS DEPLOY -> the pod's process ids
  ctl local get pods -o json |
    jq -r --arg ns "$1" --arg d "$2-" '.[] | select(.namespace == $ns and (.name | startswith($d))) | .pids[]'
}

# HTTP requests the node's agent has recorded (ferry_requests_total, every label set), from its
# Prometheus endpoint on the underlay: only an agent that ran an HTTP session counts requests.
agent_http_requests() {  # agent_http_requests NODE_INDEX
  local ip
  ip=$(ctl local get nodes -o json | jq -r --argjson i "$1" '.[$i - 1].underlayIp')
  curl -sf --max-time 5 "http://$ip:15020/metrics" |
    awk '/^ferry_requests_total[{ ]/ { sum += $NF } END { printf "%d\n", sum }'
}
