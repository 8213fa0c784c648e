#!/usr/bin/env bash
# The main job: the getting-started walkthrough on a two-node local cluster (network namespaces,
# real CNI plugins, BPF capture, the io_uring proxy, the controller over gRPC).
#   1. frontend -> api with no policy: refused
#   2. a TrafficTarget for frontend's service account: api's values come back
#   3. the TrafficTarget deleted: refused again
# Each step prints what the frontend pod actually got. The cluster stays up afterwards (with how
# to look around), unless --down is given.
#   ./scripts/demo.sh [--down] [--state DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

down=0
state=/var/lib/ferry/demo
while (($#)); do
  case "$1" in
    --down) down=1 ;;
    --state) state=$2; shift ;;
    *) echo "usage: $0 [--down] [--state DIR]" >&2; exit 2 ;;
  esac
  shift
done
[[ $(id -u) -eq 0 ]] || { echo "demo.sh: needs root (network namespaces, cgroups, BPF)" >&2; exit 1; }

./scripts/setup.sh
echo "== building Ferry (first time: several minutes)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target ferryctl ferry-agent ferry-controller ferry-cni >/dev/null

ctl() { "$root/build/release/cli/ferryctl" "$@" --state "$state"; }
fetch() {  # the body frontend gets for GET http://api/api/values, or the error it saw
  # bash's /dev/tcp resolves "api" through the pod's hosts file (the Service VIP).
  "$root/build/release/cli/ferryctl" local exec --state "$state" -n simple-app deploy/frontend -- \
    /bin/bash -c 'exec 3<>/dev/tcp/api/80 && printf "GET /api/values HTTP/1.0\r\nHost: api\r\n\r\n" >&3 &&
                  timeout 3 cat <&3 | tail -n 1' 2>&1 | tr -d '\r' | tail -n 1 | head -c 200 || true
}
wait_for() {  # wait_for <want: values|refused> ; prints the observed result and the time it took
  local want=$1 start=$SECONDS got
  while :; do
    got=$(fetch)
    if [[ $want == values && $got == *'"Value 1"'* ]] || [[ $want == refused && $got != *'"Value 1"'* ]]; then
      echo "   frontend got: ${got:-<no response: the connection was refused>}   (after $((SECONDS - start)) s)"
      return 0
    fi
    if ((SECONDS - start > 15)); then echo "   frontend got: ${got:-<no response: the connection was refused>}   (still not $want after 15 s)"; return 1; fi
    sleep 0.5
  done
}

if [[ -f $state/cluster.json ]]; then
  echo "== removing the previous demo cluster"
  ctl local down >/dev/null
fi
echo "== ferryctl local up --nodes 2"
ctl local up --nodes 2
echo "== deploying the walkthrough (namespace simple-app in the mesh, api + frontend)"
ctl local apply -f examples/l4-walkthrough/00-namespace.yaml
ctl local apply -f examples/l4-walkthrough/10-apps.yaml
ctl local get pods

echo
echo "== step 1: frontend -> api with no TrafficTarget (deny by default)"
wait_for refused
echo "== step 2: kubectl-style apply of a TrafficTarget + TCPRoute for frontend's service account"
ctl local apply -f examples/l4-walkthrough/20-traffic-target.yaml
wait_for values
echo "== step 3: the TrafficTarget deleted"
ctl local delete -f examples/l4-walkthrough/20-traffic-target.yaml
wait_for refused

echo
if ((down)); then
  ctl local down
else
  cat <<EOT
The cluster is still running. Look around:
  build/release/cli/ferryctl local get pods --state $state
  build/release/cli/ferryctl local exec --state $state -n simple-app deploy/frontend -- /bin/bash -c 'exec 3<>/dev/tcp/api/80; printf "GET /api/values HTTP/1.0\r\n\r\n" >&3; cat <&3'
  build/release/cli/ferryctl local apply --state $state -f examples/l4-walkthrough/20-traffic-target.yaml
Tear it down with: build/release/cli/ferryctl local down --state $state   (or ./scripts/demo.sh --down)
EOT
fi
