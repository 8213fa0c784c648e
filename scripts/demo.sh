#!/usr/bin/env bash
# The main job: Open Service Mesh's getting-started walkthrough on a two-node local cluster
# (network namespaces, real CNI plugins, BPF capture, the io_uring proxy, mTLS between nodes,
# the controller over gRPC), with the apps and SMI manifests of examples/simple-app and
# examples/canary-app exactly as shipped.
#   1. simple-app: frontend -> api with no TrafficTarget: refused
#   2. the TrafficTarget + HTTPRouteGroup (/api/values, any method): api's values come back,
#      and other paths get 403 on the same connection
#   3. canary-app: TrafficSplit api -> api-v1 90 / api-v2 10: the v2 share over 200 requests on
#      one keep-alive connection
# Every result is counted from the responses the frontend pods actually got. The cluster stays up
# afterwards (with how to open the frontend in a browser), unless --down is given.
#   ./scripts/demo.sh [--down] [--state DIR] [--build-dir DIR]
# --build-dir uses binaries already built there (tests do) instead of building build/release.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

down=0
state=/var/lib/ferry/demo
build=""
while (($#)); do
  case "$1" in
    --down) down=1 ;;
    --state) state=$2; shift ;;
    --build-dir) build=$2; shift ;;
    *) echo "usage: $0 [--down] [--state DIR] [--build-dir DIR]" >&2; exit 2 ;;
  esac
  shift
done
[[ $(id -u) -eq 0 ]] || { echo "demo.sh: needs root (network namespaces, cgroups, BPF)" >&2; exit 1; }

./scripts/setup.sh
if [[ -z $build ]]; then
  build=$root/build/release
  echo "== building Ferry (first time: several minutes)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$(nproc)" --target ferryctl ferry-agent ferry-controller ferry-cni ferry-example-app >/dev/null
fi
build=$(cd "$build" && pwd)
ferryctl=$build/cli/ferryctl
# The example manifests run ferry-example-app by name, found on this PATH.
export PATH="$build/examples/apps:$PATH"

ctl() { "$ferryctl" "$@" --state "$state"; }
# client NS URL ARGS...: ferry-example-app's client inside NS's frontend pod; prints its JSON report.
client() {
  local ns=$1 url=$2
  shift 2
  # The client exits 1 when a request got no response: that is a result to print, not a failure.
  { "$ferryctl" local exec --state "$state" -n "$ns" deploy/frontend -- ferry-example-app client --url "$url" "$@" \
      2>/dev/null || true; } | tail -n 1
}
count() { jq -r "$1 // 0" <<<"$2"; }
# wait_for NS URL WANT(values|refused): polls one request until it shows WANT; prints what it saw.
wait_for() {
  local ns=$1 url=$2 want=$3 start=$SECONDS report ok status
  while :; do
    report=$(client "$ns" "$url" --count 1)
    ok=$(count '.status["200"]' "$report")
    status=$(jq -r '(.status // {} | to_entries | map("\(.key) x\(.value)") | join(", ")) as $s
                    | if $s == "" then "no response (\(.last_error // "connection refused"))" else $s end' <<<"$report")
    if [[ $want == values && $ok == 1 ]] || [[ $want == refused && $ok == 0 ]]; then
      echo "   observed: 1 request -> $status; body: $(jq -r '.bodies // {} | keys | join(" ")' <<<"$report")   (after $((SECONDS - start)) s)"
      return 0
    fi
    if ((SECONDS - start > 30)); then echo "   observed: $status   (still not $want after 30 s)"; return 1; fi
    sleep 0.5
  done
}

if [[ -f $state/cluster.json ]]; then
  echo "== removing the previous demo cluster"
  ctl local down >/dev/null
fi
echo "== ferryctl local up --nodes 2"
ctl local up --nodes 2
echo "== deploying examples/simple-app (frontend on node-1, api on node-2) and examples/canary-app"
for f in examples/simple-app/00-namespace.yaml examples/simple-app/10-apps.yaml \
         examples/canary-app/00-namespace.yaml examples/canary-app/10-apps.yaml; do
  ctl local apply -f "$f"
done
ctl local get pods

echo
echo "== step 1: simple-app frontend -> http://api/api/values with no TrafficTarget (deny by default)"
wait_for simple-app http://api.simple-app/api/values refused
echo "== step 2: TrafficTarget + HTTPRouteGroup (pathRegex /api/values, methods *) for frontend's service account"
ctl local apply -f examples/simple-app/20-access.yaml
wait_for simple-app http://api.simple-app/api/values values
report=$(client simple-app http://api.simple-app --paths /api/values,/admin --count 10)
echo "   observed on one keep-alive connection: GET /api/values -> 200 x$(count '.by_path["/api/values"]["200"]' "$report"),"\
     "GET /admin -> 403 x$(count '.by_path["/admin"]["403"]' "$report") (connections: $(count .connections "$report"))"

echo "== step 3: canary-app: TrafficTargets for api-v1 and api-v2, then TrafficSplit api -> v1 90 / v2 10"
ctl local apply -f examples/canary-app/20-access.yaml
ctl local apply -f examples/canary-app/30-split.yaml
wait_for canary-app http://api.canary-app/api/values values
# api-v2 runs on the other node: its requests need the frontend's certificate, issued moments
# after the pod started; until then they are refused (fail closed). Wait for both backends.
start=$SECONDS
until report=$(client canary-app http://api.canary-app/api/values --count 20) &&
      [[ $(count '.status["200"]' "$report") == 20 ]]; do
  ((SECONDS - start < 30)) || { echo "   observed: $(jq -c .status <<<"$report") (not all 200 after 30 s)"; exit 1; }
  sleep 0.5
done
report=$(client canary-app http://api.canary-app/api/values --count 200)
v1=$(count '.bodies["[\"Value 1\",\"Value 2\",\"Value 3\"]"]' "$report")
v2=$(count '.bodies["[\"Value 4\",\"Value 5\",\"Value 6\"]"]' "$report")
echo "   observed over 200 requests on $(count .connections "$report") keep-alive connection(s): api-v1 answered $v1, api-v2 answered $v2"
echo "   canary share: api-v2 $v2 of 200 ($((v2 * 100 / 200)) %)"

echo
if ((down)); then
  ctl local down
else
  cat <<EOT
The cluster is still running. Open the canary frontend in a browser and refresh: about one page in
ten shows api-v2's values (Value 4, 5, 6):
  $ferryctl local port-forward --state $state -n canary-app deploy/frontend 8080:8080
  then http://127.0.0.1:8080/
Look around:
  $ferryctl local get pods --state $state
  $ferryctl local apply --state $state -f examples/canary-app/variants/split-v2-only.yaml   (all to v2)
  $ferryctl local delete --state $state -f examples/simple-app/20-access.yaml              (deny again)
Tear it down with: $ferryctl local down --state $state   (or ./scripts/demo.sh --down)
EOT
fi
