#include "agent/bpf/libbpf_handles.h"

#include <utility>

namespace ferry::agent {

LoadedBpfObject::LoadedBpfObject(std::string hook, void* skeleton, Destroy destroy, bpf_object* object)
    : hook_(std::move(hook)),
      skeleton_(skeleton, destroy),
      object_(object),
      program_(bpf_object__next_program(object, nullptr)) {}

int LoadedBpfObject::MapFd(const char* name) const {
  const bpf_map* map = bpf_object__find_map_by_name(object_, name);
  return map == nullptr ? -1 : bpf_map__fd(map);
}

namespace internal {

Error HookError(const std::string& hook, const std::string& what, int err) {
  return MakeError("BPF hook " + hook + ": " + what, err);
}

Result<void> PreparePinning(bpf_object* object, const std::string& hook, const std::string& pin_dir) {
  if (!pin_dir.empty()) return Ok();
  // Without pin_root_path libbpf would pin LIBBPF_PIN_BY_NAME maps under /sys/fs/bpf itself; a
  // probe load must leave nothing behind, so drop every pin path.
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, object) {
    if (int err = bpf_map__set_pin_path(map, nullptr); err != 0) {
      return HookError(hook, std::string("unpin map ") + bpf_map__name(map), -err);
    }
  }
  return Ok();
}

}  // namespace internal
}  // namespace ferry::agent
