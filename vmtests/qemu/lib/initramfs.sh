# shellcheck shell=bash
# Sourced by run-in-vm.sh: stages the guest's root file system in a directory and packs it into
# an initramfs (cpio newc + gzip). Everything the guest runs comes from here: busybox-static, the
# kernel modules, the test binaries with every shared library they link, and extra files.

is_elf() {
  [[ -f "$1" ]] && [[ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" == "7f454c46" ]]
}

# Copies <src> to <root><dst>. ELF files lose their debug info on the way: RelWithDebInfo test
# binaries are tens of MB of DWARF the guest never reads, and every byte is unpacked by an
# emulated CPU at boot. Symbols stay, so backtraces still name functions.
copy_into_root() {
  local root=$1 src=$2 dst=$3
  mkdir -p "$root$(dirname "$dst")"
  # A busybox applet link may already sit at <dst>: replace the link, never write through it.
  [[ -L "$root$dst" ]] && rm -f "$root$dst"
  if is_elf "$src" && [[ "$STRIP_BINARIES" == 1 ]]; then
    strip --strip-debug -o "$root$dst" "$src" 2>/dev/null && return 0
  fi
  cp -L --preserve=mode "$src" "$root$dst"
}

# Copies every shared library <elf> needs (as ldd resolves it on the host, dynamic loader
# included) to the same absolute path in the guest.
stage_shared_libraries() {
  local root=$1 elf=$2 out line lib
  out=$(ldd "$elf" 2>&1) || return 0  # "not a dynamic executable": nothing to copy
  if grep -q 'not found' <<<"$out"; then
    log "shared libraries of $elf not found on the host:"
    grep 'not found' <<<"$out" >&2
    return 1
  fi
  while IFS= read -r line; do
    # "libx.so.1 => /lib/.../libx.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    lib=$(awk '$2 == "=>" {print $3; next} $1 ~ /^\// {print $1}' <<<"$line")
    [[ -n "$lib" && -e "$lib" && ! -e "$root$lib" ]] || continue
    copy_into_root "$root" "$lib" "$lib" || return 1
  done <<<"$out"
}

# Copies a file or directory into the guest; ELF files bring their shared libraries along.
stage_path() {
  local root=$1 src=$2 dst=$3
  if [[ -d "$src" ]]; then
    mkdir -p "$root$(dirname "$dst")"
    cp -a "$src" "$root$dst"
    return
  fi
  [[ -f "$src" ]] || { log "no such file: $src"; return 1; }
  copy_into_root "$root" "$src" "$dst" || return 1
  if is_elf "$src"; then
    stage_shared_libraries "$root" "$src" || return 1
  fi
}

# busybox-static provides the guest's shell, mount, ip, insmod, poweroff and friends.
stage_busybox() {
  local root=$1 busybox applet
  busybox=$(command -v busybox) || { log "busybox not found (package busybox-static)"; return 1; }
  if ldd "$busybox" >/dev/null 2>&1; then
    log "$busybox is dynamically linked; install busybox-static"
    return 1
  fi
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
  cp "$busybox" "$root/bin/busybox"
  while IFS= read -r applet; do
    [[ -e "$root/$applet" ]] || ln -s /bin/busybox "$root/$applet"
  done < <("$busybox" --list-full)
}

# The guest's /bin/sh is the host's (dash on Debian) when that is an ELF program: busybox ash runs
# its own applet for any command named like one (`ip`, `grep`, ... even when /usr/sbin/ip exists),
# so system("ip netns add ...") in a test would silently get busybox's ip, which lacks netns. With
# the host's shell, commands resolve through PATH as on the host; busybox still provides the
# applets (as links) and runs /init. Falls back to busybox ash when the host shell is not ELF.
stage_host_shell() {
  local root=$1 host_sh
  host_sh=$(readlink -f /bin/sh) || host_sh=""
  if [[ -z "$host_sh" ]] || ! is_elf "$host_sh" || [[ "$host_sh" == "$(readlink -f "$(command -v busybox)")" ]]; then
    log "host /bin/sh is not a separate ELF shell; the guest's /bin/sh is busybox ash (applets win over PATH)"
    return 0
  fi
  stage_path "$root" "$host_sh" /bin/sh
}

# Base directories and the few /etc files libc looks at.
stage_skeleton() {
  local root=$1
  mkdir -p "$root"/{dev,proc,sys,run,tmp,root,var,etc/ferry,ferry/bin,lib/modules}
  # As on the host: /var/run is /run (a tmpfs in the guest), e.g. for `ip netns add`.
  ln -s /run "$root/var/run"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
  echo 'hosts: files' >"$root/etc/nsswitch.conf"
  # The kernel opens /dev/console for init before /init can mount devtmpfs; without the node
  # the first lines would be lost. mknod needs root; /init re-opens the console either way.
  if [[ $(id -u) -eq 0 ]]; then
    mknod -m 600 "$root/dev/console" c 5 1
  fi
}

# Copies the modules (relative paths in load order; a leading '?' marks one whose load may fail)
# and writes /etc/ferry/modules, the list /init loads, keeping the '?'.
stage_modules() {
  local root=$1; shift
  local entry rel optional src dst
  : >"$root/etc/ferry/modules"
  for entry in "$@"; do
    rel=${entry#\?}
    optional=${entry%"$rel"}
    src=$(uncompressed_module "$rel") || return 1
    dst="/lib/modules/$KERNEL_RELEASE/${rel%.ko*}.ko"
    mkdir -p "$root$(dirname "$dst")"
    cp "$src" "$root$dst"
    echo "$optional$dst" >>"$root/etc/ferry/modules"
  done
}

# Quotes one word for a POSIX shell: 'it'\''s'.
shell_quote() {
  local s=${1//\'/\'\\\'\'}
  printf "'%s'" "$s"
}

# Writes /etc/ferry/command: the guest command as a shell script run by /init.
write_guest_command() {
  local root=$1; shift
  local word line=""
  for word in "$@"; do
    line+="$(shell_quote "$word") "
  done
  printf '%s\n' "$line" >"$root/etc/ferry/command"
}

# Writes /etc/ferry/environment: variables for the guest command (one NAME=VALUE per element).
write_guest_environment() {
  local root=$1; shift
  local kv
  : >"$root/etc/ferry/environment"
  for kv in "$@"; do
    printf 'export %s=%s\n' "${kv%%=*}" "$(shell_quote "${kv#*=}")" >>"$root/etc/ferry/environment"
  done
}

# Packs <root> into a gzip-compressed newc cpio at <out>, every file owned by root.
pack_initramfs() {
  local root=$1 out=$2
  if command -v cpio >/dev/null; then
    (cd "$root" && find . -print0 | cpio --null --create --format=newc --owner=0:0 --quiet) |
      gzip -1 >"$out"
  else
    (cd "$root" && find . -print0 | busybox cpio -0 -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$out"
  fi
}
