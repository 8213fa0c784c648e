// RAII owners for libbpf objects: a loaded BPF object (skeleton) and a bpf_link.
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace ferry::agent {

struct BpfLinkDeleter {
  // For an fd-based link this only closes our fd. A pinned link stays attached through its pin,
  // which is what keeps the datapath failing closed while the agent is down.
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using BpfLinkPtr = std::unique_ptr<bpf_link, BpfLinkDeleter>;

// One loaded BPF object (one attach point) together with its single program. Owns the skeleton;
// destroying it closes the object's program and map fds (links and pins keep what they use).
class LoadedBpfObject {
 public:
  // Opens and loads skeleton Skel. With a non-empty pin_dir, maps declared LIBBPF_PIN_BY_NAME are
  // reused from (or pinned to) <pin_dir>/<map name>; with an empty one nothing is pinned (probing).
  template <typename Skel>
  static Result<LoadedBpfObject> Load(const std::string& hook, const std::string& pin_dir);

  LoadedBpfObject(LoadedBpfObject&&) noexcept = default;
  LoadedBpfObject& operator=(LoadedBpfObject&&) noexcept = default;

  const std::string& hook() const { return hook_; }
  bpf_object* object() const { return object_; }
  bpf_program* program() const { return program_; }
  // fd of one of the object's maps; -1 if it has no map of that name.
  int MapFd(const char* name) const;

 private:
  using Destroy = void (*)(void*);
  LoadedBpfObject(std::string hook, void* skeleton, Destroy destroy, bpf_object* object);

  std::string hook_;
  std::unique_ptr<void, Destroy> skeleton_;
  bpf_object* object_ = nullptr;
  bpf_program* program_ = nullptr;
};

namespace internal {
Error HookError(const std::string& hook, const std::string& what, int err);
Result<void> PreparePinning(bpf_object* object, const std::string& hook, const std::string& pin_dir);
}  // namespace internal

template <typename Skel>
Result<LoadedBpfObject> LoadedBpfObject::Load(const std::string& hook, const std::string& pin_dir) {
  // pin_root_path makes libbpf look for <pin_dir>/<name> of every LIBBPF_PIN_BY_NAME map before
  // creating it, and reuse it when compatible: this is how the six objects share one set of maps.
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.pin_root_path = pin_dir.empty() ? nullptr : pin_dir.c_str();
  Skel* skel = Skel::open(&opts);
  if (skel == nullptr) return internal::HookError(hook, "open BPF object", errno);
  LoadedBpfObject loaded(hook, skel, [](void* s) { Skel::destroy(static_cast<Skel*>(s)); }, skel->obj);
  FERRY_TRY(internal::PreparePinning(skel->obj, hook, pin_dir));
  // Loading is also the feature probe: the verifier accepts the program only if this kernel has
  // every helper and context field it uses (bpftool feature probe is not trustworthy here).
  if (int err = Skel::load(skel); err != 0) return internal::HookError(hook, "load BPF program", -err);
  if (loaded.program_ == nullptr) return internal::HookError(hook, "find program in BPF object", ENOENT);
  return loaded;
}

}  // namespace ferry::agent
