#!/usr/bin/env bash
# kernel-unavailable.sh <run-in-vm.sh>
# When the 6.1 kernel cannot be obtained (apt fails, empty cache) the runner must fail under
# FERRY_REQUIRE_PRIVILEGED=1 (CI) and report a skip (77) otherwise - never a silent pass.
set -uo pipefail
runner=${1:?usage: kernel-unavailable.sh <run-in-vm.sh>}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qemuhelper-nokernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# apt that knows nothing and cannot download: what a machine without network or lists sees.
mkdir -p "$tmp/bin"
for tool in apt-get apt-cache; do
  printf '#!/bin/sh\necho "fake %s: unavailable" >&2\nexit 100\n' "$tool" >"$tmp/bin/$tool"
  chmod +x "$tmp/bin/$tool"
done

check() {  # check <expected status> <FERRY_REQUIRE_PRIVILEGED value>
  local expected=$1 require=$2 status
  FERRY_QEMU_CACHE="$tmp/cache" PATH="$tmp/bin:$PATH" FERRY_REQUIRE_PRIVILEGED="$require" \
    "$runner" --timeout 30 -- true
  status=$?
  if ((status != expected)); then
    echo "kernel-unavailable: FERRY_REQUIRE_PRIVILEGED=$require gave $status, expected $expected" >&2
    return 1
  fi
  echo "kernel-unavailable: FERRY_REQUIRE_PRIVILEGED=$require gave $status as expected"
}

check 1 1 && check 77 0
