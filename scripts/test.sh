#!/usr/bin/env bash
# Builds Ferry and runs every test stage:
#   1. unit tests in an ASan+UBSan build (no privileges needed),
#   2. the full suite in the release build: unit tests, privileged host vmtests, qemu vmtests.
# Exits non-zero if any stage fails; the last line printed is ctest's summary of stage 2.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/setup.sh || { echo "test.sh: setup failed" >&2; exit 1; }

jobs=$(nproc)
status=0

build() {  # build <dir> <target|all> <cmake args...>
  local dir=$1 target=$2; shift 2
  cmake -S "$root" -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" --target "$target"
}

mkdir -p build
echo "== build (release)"
build build/release all -DCMAKE_BUILD_TYPE=RelWithDebInfo || { echo "test.sh: release build failed"; exit 1; }

echo "== build (asan+ubsan, unit tests only)"
if build build/asan ferry_unit_tests -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DFERRY_BUILD_BPF=OFF; then
  echo "== unit tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build/asan -L unit --output-on-failure -j "$jobs" || status=1
else
  echo "test.sh: asan build failed"; status=1
fi

if [[ "${CI:-}" == "true" ]]; then export FERRY_REQUIRE_PRIVILEGED=1; fi
echo "== full suite (unit, privileged, qemu)"
ctest --test-dir build/release --output-on-failure || status=1
exit $status
