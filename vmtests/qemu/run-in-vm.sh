#!/usr/bin/env bash
# Runs a command as root inside a qemu guest booted with Debian's linux-image-6.1 kernel, so Ferry's
# privileged tests also cover the kernel its users run (kTLS, BPF on 6.1), not only the host's.
#
# Usage:
#   run-in-vm.sh [options] -- <command> [args...]
#   run-in-vm.sh [options] --shell
#
# <command>: a word containing '/' is a host file: it is copied into the guest as
#   /ferry/bin/<basename> (with every shared library it needs) and run from there. A word without
#   '/' is looked up in the guest's PATH (/ferry/bin first, then busybox applets), so several
#   binaries run as:  --add build/a --add build/b -- sh -c 'a --flag && b'
#   The guest's /bin/sh is the host's /bin/sh (dash on Debian) with busybox providing the other
#   commands, so `sh -c` and system() find programs through PATH as on the host (busybox ash
#   would prefer its own applets: an added /usr/sbin/ip would lose to busybox's ip). /var/run is
#   a link to /run (tmpfs), so `ip netns add` works once iproute2 is added:
#   --add /usr/sbin/ip:/usr/sbin/ip.
#   Args are passed verbatim. The command runs in /tmp with stdin at /dev/null, as root, with
#   FERRY_REQUIRE_PRIVILEGED=1 and FERRY_IN_QEMU=1 in its environment.
#
# Options:
#   --timeout S        kill the guest after S seconds (default 300); exit status 124
#   --modules LIST     comma-separated kernel modules to load, replacing the default set
#                      (veth,bridge,gf128mul,ghash-generic,ctr,seqiv,gcm,tls); a leading '+' adds
#                      to it (--modules +sch_netem). Dependencies come from modules.dep; builtins
#                      are skipped.
#   --add SRC[:DST]    copy a host file or directory into the guest at DST (default
#                      /ferry/bin/<basename>; a DST ending in '/' keeps the basename; SRC must
#                      not contain ':'). ELF files bring their shared libraries (as ldd resolves
#                      them; dlopen()ed ones need their own --add). Repeatable.
#   --env NAME=VALUE   set a variable for the guest command. Repeatable.
#   --no-strip         keep debug info in copied ELF files (default: strip it, for boot speed)
#   --memory MB        guest memory (default 1024)
#   --kernel-args ARGS append to the guest kernel command line (e.g. "loglevel=7" to see the
#                      boot; the defaults are console=ttyS0 panic=-1 oops=panic quiet)
#   --shell            boot into an interactive busybox shell instead of running a command
#                      (no timeout; `exit` powers off, Ctrl-A x kills qemu). --add files are there.
#   --keep-initramfs F also write the initramfs to F (for inspection)
#
# Exit status: the guest command's status, or
#   124  the guest did not finish within --timeout (qemu is killed)
#   125  the guest ended without reporting a status (crash, panic, failed mount/insmod in /init),
#        or its kernel logged a WARNING/BUG/Oops while the command exited 0
#   77   the kernel could not be obtained and FERRY_REQUIRE_PRIVILEGED is not 1 (a skip for ctest);
#        with FERRY_REQUIRE_PRIVILEGED=1 this is 1: a missing kernel is a failure, never a skip
#   1    the host side failed (missing qemu/busybox, a file to copy, a library ldd cannot find)
#   2    usage error
# The status is "failed" (125) from the start; only the guest's marker line
# "FERRY-VM-EXIT=<n> run=<per-boot id>" on the serial console replaces it.
#
# Kernel: the newest linux-image-6.1.0-N-amd64 apt knows (via linux-image-amd64's dependency, else
# apt-cache search), re-resolved whenever apt's lists change, fetched with `apt-get download` and
# unpacked with `dpkg-deb -x` into FERRY_QEMU_CACHE (default <repo>/build/qemu-cache; ~470 MB, the
# previous version is pruned). Never installed on the host. The first run downloads (~70 MB).
# Guest: qemu-system-x86_64 -accel tcg (KVM hangs here), 2 vCPUs, no NIC, PVH boot of the cached
# uncompressed vmlinux; the kernel reaches the command in a few seconds.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly DEFAULT_MODULES="veth,bridge,gf128mul,ghash-generic,ctr,seqiv,gcm,tls"
readonly EXIT_TIMEOUT=124 EXIT_NO_STATUS=125 EXIT_SKIP=77 EXIT_USAGE=2

log() { echo "run-in-vm: $*" >&2; }

# shellcheck source=lib/kernel.sh
source "$SCRIPT_DIR/lib/kernel.sh"
# shellcheck source=lib/initramfs.sh
source "$SCRIPT_DIR/lib/initramfs.sh"

QEMU_CACHE=${FERRY_QEMU_CACHE:-$(cd "$SCRIPT_DIR/../.." && pwd)/build/qemu-cache}
TIMEOUT=300
MEMORY_MB=1024
MODULES=$DEFAULT_MODULES
SHELL_MODE=0
STRIP_BINARIES=1
KEEP_INITRAMFS=""
KERNEL_ARGS=""
ADDS=()
GUEST_ENV=()
COMMAND=()

usage() {
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//' >&2
  exit "$EXIT_USAGE"
}

parse_args() {
  while (($#)); do
    case "$1" in
      --timeout | --modules | --add | --env | --memory | --kernel-args | --keep-initramfs)
        [[ $# -ge 2 && -n "$2" ]] || { log "$1 needs a value"; usage; } ;;
    esac
    case "$1" in
      --timeout) TIMEOUT=$2; shift 2 ;;
      --modules) MODULES=$2; shift 2 ;;
      --add) ADDS+=("$2"); shift 2 ;;
      --env) GUEST_ENV+=("$2"); shift 2 ;;
      --memory) MEMORY_MB=$2; shift 2 ;;
      --kernel-args) KERNEL_ARGS=$2; shift 2 ;;
      --no-strip) STRIP_BINARIES=0; shift ;;
      --shell) SHELL_MODE=1; shift ;;
      --keep-initramfs) KEEP_INITRAMFS=$2; shift 2 ;;
      -h | --help) usage ;;
      --) shift; COMMAND=("$@"); break ;;
      *) log "unknown argument: $1"; usage ;;
    esac
  done
  [[ "$TIMEOUT" =~ ^[0-9]+$ && "$MEMORY_MB" =~ ^[0-9]+$ ]] || { log "bad number"; usage; }
  if [[ "$MODULES" == +* ]]; then
    MODULES="$DEFAULT_MODULES,${MODULES#+}"
  fi
  local kv
  for kv in "${GUEST_ENV[@]}"; do
    [[ "$kv" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || { log "bad --env '$kv'"; usage; }
  done
  if ((SHELL_MODE == 0 && ${#COMMAND[@]} == 0)); then
    log "no command given"
    usage
  fi
}

# The kernel is the one dependency outside the repo: a missing one is a skip locally, a failure
# in CI (FERRY_REQUIRE_PRIVILEGED=1).
kernel_unavailable() {
  log "cannot obtain linux-image-6.1.0-*-amd64 (apt-get download failed, nothing cached in $QEMU_CACHE)"
  if [[ "${FERRY_REQUIRE_PRIVILEGED:-}" == 1 ]]; then
    exit 1
  fi
  log "skipping (set FERRY_REQUIRE_PRIVILEGED=1 to make this a failure)"
  exit "$EXIT_SKIP"
}

# Fills <root> with everything the guest needs.
stage_guest() {
  local root=$1 run_id=$2
  stage_skeleton "$root" && stage_busybox "$root" && stage_host_shell "$root" || return 1
  install -m 755 "$SCRIPT_DIR/guest/init" "$root/init"

  local module_paths=() spec src dst
  IFS=',' read -r -a requested <<<"$MODULES"
  mapfile -t module_paths < <(resolve_module_load_order "${requested[@]}"; echo "rc=$?")
  [[ "${module_paths[-1]}" == rc=0 ]] || return 1
  unset 'module_paths[-1]'
  stage_modules "$root" "${module_paths[@]}" || return 1

  for spec in "${ADDS[@]}"; do
    src=${spec%%:*}
    dst=/ferry/bin/
    [[ "$spec" == *:* ]] && dst=${spec#*:}
    [[ "$dst" == */ ]] && dst+=$(basename "$src")
    stage_path "$root" "$src" "$dst" || return 1
  done

  local command=("${COMMAND[@]}")
  if ((${#command[@]})) && [[ "${command[0]}" == */* ]]; then
    stage_path "$root" "${command[0]}" "/ferry/bin/$(basename "${command[0]}")" || return 1
    command[0]="/ferry/bin/$(basename "${command[0]}")"
  fi
  write_guest_command "$root" "${command[@]}"
  write_guest_environment "$root" "${GUEST_ENV[@]}"
  local mode=run
  ((SHELL_MODE)) && mode=shell
  printf 'FERRY_VM_MODE=%s\nFERRY_VM_RUN_ID=%s\n' "$mode" "$run_id" >"$root/etc/ferry/config"
}

qemu_command() {
  local initramfs=$1
  # panic=-1 reboots at once on a panic and -no-reboot turns that reboot into a qemu exit: a
  # crashed guest ends the run instead of hanging until the timeout.
  # No NIC: the guest tests use netns/veth only, and it spares the iPXE ROM at boot.
  QEMU_ARGS=(qemu-system-x86_64 -accel tcg -m "$MEMORY_MB" -smp 2 -nographic -no-reboot -nic none
    -kernel "$KERNEL_IMAGE" -initrd "$initramfs"
    -append "console=ttyS0 panic=-1 oops=panic quiet rdinit=/init $KERNEL_ARGS")
}

# Boots the guest, streams its console to stdout, enforces the timeout; sets RUN_STATUS.
boot_and_wait() {
  local tmp=$1 run_id=$2
  local serial_log="$tmp/serial.log"
  mkfifo "$tmp/serial"
  # The reader strips the serial line's CRs and the firmware's terminal escapes, and copies the
  # console to stdout and the log.
  sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' <"$tmp/serial" |
    tee "$serial_log" &
  local reader=$!
  # pdeathsig: if this script is killed outright (SIGKILL), qemu goes with it.
  local boot_started=$EPOCHREALTIME
  setpriv --pdeathsig KILL "${QEMU_ARGS[@]}" >"$tmp/serial" 2>&1 </dev/null &
  QEMU_PID=$!
  sleep "$TIMEOUT" &
  TIMER_PID=$!
  wait -n "$QEMU_PID" "$TIMER_PID"
  if kill -0 "$QEMU_PID" 2>/dev/null; then
    log "guest did not finish within ${TIMEOUT}s; killing qemu (pid $QEMU_PID)"
    stop_qemu
    wait "$reader"
    TIMER_PID=""
    RUN_STATUS=$EXIT_TIMEOUT
    return
  fi
  stop_timer
  wait "$QEMU_PID"
  local qemu_status=$?
  QEMU_PID=""
  wait "$reader"
  log "qemu ran for $(elapsed_since "$boot_started")s (boot, command, power-off)"
  parse_guest_status "$serial_log" "$run_id" "$qemu_status"
}

# Seconds since <start> ($EPOCHREALTIME), one decimal.
elapsed_since() {
  local start=${1/./} now=${EPOCHREALTIME/./}
  local tenths=$(((now - start) / 100000))
  echo "$((tenths / 10)).$((tenths % 10))"
}

parse_guest_status() {
  local serial_log=$1 run_id=$2 qemu_status=$3 marker
  marker=$(grep -a -o -E "FERRY-VM-EXIT=[0-9]+ run=$run_id" "$serial_log" | tail -n1)
  if [[ -z "$marker" ]]; then
    log "guest ended without reporting an exit status (qemu exit $qemu_status): crash, panic or setup failure"
    RUN_STATUS=$EXIT_NO_STATUS
    return
  fi
  RUN_STATUS=${marker#FERRY-VM-EXIT=}
  RUN_STATUS=${RUN_STATUS%% *}
  # A kernel bug hit during the test fails it even when the command exited 0.
  # oops=panic already turns most into a missing marker; this catches BUGs that do not oops and
  # WARNINGs (a kernel WARN_ON is a kernel bug path: e.g. BPF or io_uring misuse the kernel caught).
  if grep -a -q -E '^\[ *[0-9]+\.[0-9]+\] (WARNING:|BUG:|Oops|general protection fault)' "$serial_log"; then
    log "guest kernel reported a WARNING/BUG/Oops (see console above)"
    ((RUN_STATUS == 0)) && RUN_STATUS=$EXIT_NO_STATUS
  fi
}

stop_timer() {
  [[ -n "${TIMER_PID:-}" ]] || return 0
  kill "$TIMER_PID" 2>/dev/null
  wait "$TIMER_PID" 2>/dev/null
  TIMER_PID=""
}

stop_qemu() {
  [[ -n "${QEMU_PID:-}" ]] || return 0
  kill -TERM "$QEMU_PID" 2>/dev/null
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$QEMU_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$QEMU_PID" 2>/dev/null
  wait "$QEMU_PID" 2>/dev/null
  QEMU_PID=""
}

main() {
  parse_args "$@"
  # Failing status first: anything that ends this script early reports failure.
  RUN_STATUS=$EXIT_NO_STATUS
  QEMU_PID=""
  TIMER_PID=""
  command -v qemu-system-x86_64 >/dev/null || { log "qemu-system-x86_64 missing (scripts/setup.sh)"; exit 1; }
  local started=$SECONDS
  ensure_kernel || kernel_unavailable

  TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferry-vm.XXXXXX")
  trap 'stop_qemu; stop_timer; rm -rf "$TMP_DIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local run_id
  run_id=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
  stage_guest "$TMP_DIR/root" "$run_id" || { log "could not build the guest file system"; exit 1; }
  pack_initramfs "$TMP_DIR/root" "$TMP_DIR/initramfs.cpio.gz" || { log "could not pack initramfs"; exit 1; }
  [[ -n "$KEEP_INITRAMFS" ]] && cp "$TMP_DIR/initramfs.cpio.gz" "$KEEP_INITRAMFS"
  log "kernel $KERNEL_RELEASE, initramfs $(du -k "$TMP_DIR/initramfs.cpio.gz" | cut -f1) KiB," \
    "prepared in $((SECONDS - started))s; booting (timeout ${TIMEOUT}s)"
  qemu_command "$TMP_DIR/initramfs.cpio.gz"

  if ((SHELL_MODE)); then
    "${QEMU_ARGS[@]}"
    exit $?
  fi
  boot_and_wait "$TMP_DIR" "$run_id"
  log "guest exit status $RUN_STATUS after $((SECONDS - started))s"
  exit "$RUN_STATUS"
}

main "$@"
