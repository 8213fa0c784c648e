#!/usr/bin/env bash
# expect-exit.sh <status> <command> [args...]
# Runs the command and succeeds only if it exits with exactly <status>: the runner's own tests use
# it to check that failures, timeouts and crashes in the guest surface as the right exit status.
# Exit 77 (the runner's "kernel unavailable, skip") passes through so ctest reports a skip.
set -uo pipefail
expected=${1:?usage: expect-exit.sh <status> <command> [args...]}
shift
"$@"
status=$?
if ((status == 77 && expected != 77)); then
  exit 77
fi
if ((status != expected)); then
  echo "expect-exit: '$1' exited $status, expected $expected" >&2
  exit 1
fi
echo "expect-exit: '$1' exited $status as expected"
exit 0
