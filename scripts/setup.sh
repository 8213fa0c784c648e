#!/usr/bin/env bash
# Installs what building, testing and running Ferry needs on Debian 12, and only what is missing:
# a fast no-op when everything is present.
#   scripts/setup.sh           build, tests, demo (jq: the demo reads the sample client's JSON)
#                              (prometheus: promtool and the scrape test; chromium: the dashboard test)
#   scripts/setup.sh --bench   also what ./scripts/bench.sh measures with: sockperf (64 B ping-pong),
#                              iperf3 (throughput), haproxy (the peer relay), socat + jq (agent
#                              counters, JSON), gnuplot-nox (the chart), util-linux (taskset),
#                              openssl (certificates for the HAProxy mTLS pair)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  liburing-dev libssl-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libyaml-cpp-dev libre2-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libhttp-parser-dev
  iproute2 containernetworking-plugins procps psmisc jq prometheus chromium
  busybox-static qemu-system-x86 cpio kmod
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(sockperf iperf3 haproxy socat gnuplot-nox util-linux openssl)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "setup: need root to install packages (run as root or install them yourself)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
