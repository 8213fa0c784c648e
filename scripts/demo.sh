#!/usr/bin/env bash
# The main job. Until `ferryctl local` and the getting-started samples land, it builds Ferry and
# walks the L4 datapath story on a one-node local cluster (real netns, CNI plugins, BPF and the
# io_uring proxy): deny by default, allow with a TrafficTarget + TCPRoute, intact data, policy
# removal resetting a live connection, fail-closed when the agent dies. Each step prints what the
# applications observed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [[ $(id -u) -ne 0 ]]; then echo "demo.sh: needs root (network namespaces, cgroups, BPF)" >&2; exit 1; fi
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target ferry-agent ferry-probe ferry_datapath_vmtest
exec ./build/release/vmtests/datapath/ferry_datapath_vmtest \
  --gtest_filter='*DeniedWithoutTrafficTarget:*AllowedByTrafficTargetWithIntactData:*RemovingPolicyResetsOpenConnectionAndDeniesNew:*AgentKilledFailsClosedAndRestartRecovers'
