# shellcheck shell=bash
# Sourced by run-in-vm.sh: obtains Debian's 6.1 kernel and resolves the modules the guest loads.
#
# The kernel package is fetched with `apt-get download` and unpacked with `dpkg-deb -x` into the
# cache; it is never installed on the host (installing runs initramfs and bootloader hooks).
# Debian ships no modules.dep in the package (postinst runs depmod), so we run depmod on the
# unpacked tree once and cache the result.
#
# Sets after ensure_kernel: KERNEL_DIR (unpacked tree), KERNEL_RELEASE (e.g. 6.1.0-56-amd64),
# KERNEL_IMAGE (vmlinuz path).

readonly KERNEL_PACKAGE_PATTERN='^linux-image-6\.1\.0-[0-9]+-amd64$'

# Prints "<package> <version>" of the newest linux-image-6.1.0-N-amd64 apt knows, or nothing.
# Each apt-cache call takes about a second here (no pkgcache.bin), so the common case uses one.
newest_kernel_package() {
  local pkg version
  # The metapackage names the kernel Debian currently ships: "Depends: linux-image-6.1.0-56-amd64
  # (= 6.1.192-2)". Only trust it while that is a 6.1 kernel.
  read -r pkg version < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n -E 's/^Depends: (linux-image-6\.1\.0-[0-9]+-amd64) \(= ([^)]+)\).*/\1 \2/p' | head -n1)
  if [[ -z "${pkg:-}" ]]; then
    pkg=$(apt-cache search --names-only "$KERNEL_PACKAGE_PATTERN" 2>/dev/null |
      awk '{print $1}' | sort -V | tail -n1)
    [[ -n "$pkg" ]] || return 0
    version=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
  fi
  [[ -n "${version:-}" ]] && echo "$pkg $version"
}

# Identifies the state of apt's package lists: the answer of newest_kernel_package can only
# change when the lists or the sources change.
apt_lists_stamp() {
  stat -c '%Y %s %n' /var/lib/apt/lists/*_Packages* /etc/apt/sources.list /etc/apt/sources.list.d/* \
    2>/dev/null | md5sum | cut -d' ' -f1
}

# Like newest_kernel_package, but runs `apt-get update` once when apt has no lists. The answer is
# remembered per apt-lists state: apt-cache takes 1-4 s here, and a test run boots many guests.
resolve_kernel_package() {
  local resolved stamp memo="$QEMU_CACHE/resolved"
  stamp=$(apt_lists_stamp)
  if [[ -f "$memo" && "$(head -n1 "$memo")" == "$stamp" ]]; then
    tail -n1 "$memo"
    return
  fi
  resolved=$(newest_kernel_package)
  if [[ -z "$resolved" ]]; then
    log "apt knows no linux-image-6.1.0-*-amd64; running apt-get update once"
    apt-get update -qq >&2 || log "apt-get update failed"
    resolved=$(newest_kernel_package)
    stamp=$(apt_lists_stamp)
  fi
  [[ -n "$resolved" ]] && printf '%s\n%s\n' "$stamp" "$resolved" >"$memo"
  echo "$resolved"
}

# Downloads and unpacks <package> <version> into <dir>; atomic: <dir> appears only when complete.
fetch_and_unpack_kernel() {
  local pkg=$1 version=$2 dir=$3
  local work="$dir.partial"
  rm -rf "$work"
  mkdir -p "$work/download"
  log "downloading $pkg $version"
  # As root, apt would drop to its _apt user, which cannot write into our cache: skip that.
  local apt_opts=(-q)
  [[ $(id -u) -eq 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
  if ! (cd "$work/download" && apt-get download "${apt_opts[@]}" "$pkg=$version" >&2); then
    log "apt-get download failed; running apt-get update once and retrying"
    apt-get update -qq >&2 || true
    (cd "$work/download" && apt-get download "${apt_opts[@]}" "$pkg=$version" >&2) ||
      { rm -rf "$work"; return 1; }
  fi
  dpkg-deb -x "$work"/download/*.deb "$work/root" || { rm -rf "$work"; return 1; }
  rm -rf "$work/download"
  local release
  release=$(ls "$work/root/lib/modules")
  log "running depmod for $release"
  if command -v depmod >/dev/null; then
    depmod -b "$work/root" "$release" || { rm -rf "$work"; return 1; }
  else
    busybox depmod -b "$work/root" "$release" || { rm -rf "$work"; return 1; }
  fi
  extract_pvh_vmlinux "$work/root/boot/vmlinuz-$release" "$work/vmlinux" ||
    log "no PVH-bootable vmlinux in the package; booting the compressed image (slower)"
  echo "$release" >"$work/release"
  mv "$work" "$dir"
}

# Writes the uncompressed kernel inside bzImage <vmlinuz> to <out> when it can be booted directly
# through PVH (an ELF with the XEN_ELFNOTE_PHYS32_ENTRY note, type 0x12). Under TCG the kernel's
# own xz decompressor takes ~5 s of emulated time at every boot; doing it once here halves boot.
extract_pvh_vmlinux() {
  local vmlinuz=$1 out=$2 offset
  # Magic of the compressed payload: xz, zstd, gzip (Debian 6.1 uses xz).
  local -A decompressor=(['\xFD7zXZ\x00']='xz -dc --single-stream' ['\x28\xB5\x2F\xFD']='zstd -qdc'
    ['\x1F\x8B\x08']='gzip -dc')
  local magic
  for magic in "${!decompressor[@]}"; do
    while read -r offset; do
      tail -c +$((offset + 1)) "$vmlinuz" | ${decompressor[$magic]} >"$out.tmp" 2>/dev/null
      if is_elf "$out.tmp" && readelf -n "$out.tmp" 2>/dev/null | grep -q '(0x00000012)'; then
        mv "$out.tmp" "$out"
        return 0
      fi
    done < <(LC_ALL=C grep -obUaP "$magic" "$vmlinuz" | cut -d: -f1)
  done
  rm -f "$out.tmp"
  return 1
}

# The newest fully unpacked kernel already in the cache (used when apt cannot be asked).
newest_cached_kernel() {
  local d
  for d in "$QEMU_CACHE"/linux-image-*; do
    [[ -f "$d/release" ]] && echo "$d"
  done | sort -V | tail -n1
}

# Removes cached kernels other than <keep>: each unpacked tree is ~400 MB.
prune_cached_kernels() {
  local keep=$1 d
  for d in "$QEMU_CACHE"/linux-image-*; do
    [[ -d "$d" && "$d" != "$keep" ]] || continue
    log "removing stale cached kernel $(basename "$d")"
    rm -rf "$d"
  done
}

# Fills KERNEL_DIR, KERNEL_RELEASE and KERNEL_IMAGE, downloading when the cache lacks the
# current package. Serialized by a lock so parallel runs share one download.
ensure_kernel() {
  mkdir -p "$QEMU_CACHE" || return 1
  exec {lock_fd}>"$QEMU_CACHE/.lock"
  flock -x "$lock_fd"
  local resolved dir=""
  resolved=$(resolve_kernel_package)
  if [[ -n "$resolved" ]]; then
    dir="$QEMU_CACHE/${resolved/ /_}"
    if [[ ! -f "$dir/release" ]]; then
      if fetch_and_unpack_kernel "${resolved% *}" "${resolved#* }" "$dir"; then
        prune_cached_kernels "$dir"
      else
        log "could not fetch $resolved"
        dir=""
      fi
    fi
  fi
  if [[ -z "$dir" ]]; then
    dir=$(newest_cached_kernel)
    [[ -n "$dir" ]] && log "using cached kernel $(basename "$dir") (apt could not provide a newer one)"
  fi
  flock -u "$lock_fd"
  exec {lock_fd}>&-
  [[ -n "$dir" ]] || return 1
  KERNEL_DIR=$dir
  KERNEL_RELEASE=$(<"$dir/release")
  KERNEL_IMAGE="$dir/root/boot/vmlinuz-$KERNEL_RELEASE"
  [[ -f "$KERNEL_IMAGE" ]] || { log "no kernel image at $KERNEL_IMAGE"; return 1; }
  if [[ -f "$dir/vmlinux" ]]; then
    KERNEL_IMAGE="$dir/vmlinux"
  fi
}

# Module names match file names with '-' and '_' interchangeable (ghash-generic.ko, nf_tables.ko).
normalize_module_name() {
  local name=${1##*/}
  name=${name%%.ko*}
  echo "${name//-/_}"
}

# Modules a soft dependency name stands for: the module itself, or what modules.alias maps the
# name to (softdeps often name an alias: "softdep libcrc32c pre: crc32c").
softdep_candidates() {
  local name=$1 moddir=$2
  if [[ -n "${path_of[$name]:-}" ]]; then
    echo "$name"
    return
  fi
  awk -v alias="$1" '$1 == "alias" && $2 == alias {print $3}' "$moddir/modules.alias" | tr '-' '_'
}

# Prints the relative paths (from lib/modules/<release>/) of the requested modules and everything
# they need, in load order, each once: hard dependencies (modules.dep) first, then "pre" soft
# dependencies (modules.softdep, what modprobe would load too), the module, its "post" ones.
# Soft dependencies are printed with a leading '?': they may fail to load (crc32c_intel on a CPU
# without SSE4.2) while an alternative succeeds. Builtin modules print nothing. Fails on a
# requested module that is neither a loadable module nor builtin.
resolve_module_load_order() {
  local moddir="$KERNEL_DIR/root/lib/modules/$KERNEL_RELEASE"
  local -A path_of=() deps_of=() pre_of=() post_of=() builtin=() emitted=()
  local line target deps name word list
  # Parameter expansion instead of $(normalize_module_name): ~6000 lines, no subshell per line.
  while IFS= read -r line; do
    target=${line%%:*}
    deps=${line#*:}
    name=${target##*/}
    name=${name%%.ko*}
    path_of[${name//-/_}]=$target
    deps_of[${name//-/_}]=$deps
  done <"$moddir/modules.dep"
  while IFS= read -r line; do
    name=${line##*/}
    name=${name%%.ko*}
    builtin[${name//-/_}]=1
  done <"$moddir/modules.builtin"
  # "softdep <module> [pre:] <names...> [post: <names...>]"
  while read -r word name line; do
    [[ "$word" == softdep ]] || continue
    name=${name//-/_}
    list=pre
    for word in $line; do
      case "$word" in
        pre:) list=pre ;;
        post:) list=post ;;
        *) if [[ $list == pre ]]; then pre_of[$name]+=" ${word//-/_}"; else post_of[$name]+=" ${word//-/_}"; fi ;;
      esac
    done
  done < <(cat "$moddir/modules.softdep" 2>/dev/null)

  emit_with_deps() {  # emit_with_deps <module> [?]: depth-first, needs before the module
    local mod=$1 optional=${2:-} dep soft candidate
    [[ -n "${emitted[$mod]:-}" ]] && return 0
    [[ -n "${path_of[$mod]:-}" ]] || { log "modules.dep names unknown dependency '$mod'"; return 1; }
    emitted[$mod]=1
    for dep in ${deps_of[$mod]}; do
      dep=${dep##*/}
      dep=${dep%%.ko*}
      emit_with_deps "${dep//-/_}" "$optional" || return 1
    done
    for soft in ${pre_of[$mod]:-}; do
      for candidate in $(softdep_candidates "$soft" "$moddir"); do
        emit_with_deps "$candidate" "?" || return 1
      done
    done
    echo "$optional${path_of[$mod]}"
    for soft in ${post_of[$mod]:-}; do
      for candidate in $(softdep_candidates "$soft" "$moddir"); do
        emit_with_deps "$candidate" "?" || return 1
      done
    done
  }

  local requested mod
  for requested in "$@"; do
    mod=$(normalize_module_name "$requested")
    if [[ -n "${path_of[$mod]:-}" ]]; then
      emit_with_deps "$mod" || return 1
    elif [[ -z "${builtin[$mod]:-}" ]]; then
      log "module '$requested' is neither in modules.dep nor builtin in $KERNEL_RELEASE"
      return 1
    fi
  done
}

# Prints the path of an uncompressed copy of module <relpath>, decompressing once into the cache:
# busybox insmod in the guest cannot be relied on to handle .ko.xz/.ko.zst.
uncompressed_module() {
  local rel=$1
  local src="$KERNEL_DIR/root/lib/modules/$KERNEL_RELEASE/$rel"
  case "$rel" in
    *.ko) echo "$src"; return 0 ;;
  esac
  local out="$KERNEL_DIR/ko/${rel%.*}"
  if [[ ! -f "$out" ]]; then
    mkdir -p "$(dirname "$out")"
    case "$rel" in
      *.ko.xz) xz -dc "$src" >"$out.tmp" ;;
      *.ko.zst) zstd -qdc "$src" >"$out.tmp" ;;
      *.ko.gz) gzip -dc "$src" >"$out.tmp" ;;
      *) log "unknown module compression: $rel"; return 1 ;;
    esac || { rm -f "$out.tmp"; return 1; }
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}
