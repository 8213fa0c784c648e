#include "agent/bpf/pinned_links.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "agent/bpf/bpffs.h"

namespace ferry::agent {
namespace {

struct PinnedLinkInfo {
  bpf_link_type type = BPF_LINK_TYPE_UNSPEC;
  uint64_t target_id = 0;  // 0 once the cgroup/netns the link was attached to is gone
};

Result<PinnedLinkInfo> QueryLink(const bpf_link* link, const std::string& pin_path) {
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) != 0) {
    return ErrnoError("query pinned link " + pin_path);
  }
  PinnedLinkInfo out;
  out.type = static_cast<bpf_link_type>(info.type);
  if (out.type == BPF_LINK_TYPE_CGROUP) out.target_id = info.cgroup.cgroup_id;
  if (out.type == BPF_LINK_TYPE_NETNS) out.target_id = info.netns.netns_ino;
  return out;
}

Result<BpfLinkPtr> OpenPinnedLink(const std::string& pin_path) {
  BpfLinkPtr link(bpf_link__open(pin_path.c_str()));
  if (!link) return ErrnoError("open pinned link " + pin_path);
  return link;
}

Result<BpfLinkPtr> Attach(const LoadedBpfObject& object, const LinkTarget& target) {
  bpf_link* link = nullptr;
  if (target.type == BPF_LINK_TYPE_CGROUP) link = bpf_program__attach_cgroup(object.program(), target.fd);
  if (target.type == BPF_LINK_TYPE_NETNS) link = bpf_program__attach_netns(object.program(), target.fd);
  if (link == nullptr) {
    int err = errno != 0 ? errno : EINVAL;
    return internal::HookError(object.hook(), "attach to " + target.description, err);
  }
  return BpfLinkPtr(link);
}

Result<void> Pin(const LoadedBpfObject& object, bpf_link* link, const std::string& pin_path) {
  if (int err = bpf_link__pin(link, pin_path.c_str()); err != 0) {
    return internal::HookError(object.hook(), "pin link at " + pin_path, -err);
  }
  return Ok();
}

Result<void> AttachAndPin(const LoadedBpfObject& object, const LinkTarget& target,
                          const std::string& pin_path) {
  auto link = Attach(object, target);
  if (!link.ok()) return link.error();
  // If pinning fails, destroying our only reference detaches the link again: no orphan attachment.
  return Pin(object, link->get(), pin_path);
}

}  // namespace

Result<void> InstallPinnedLink(const LoadedBpfObject& object, const LinkTarget& target,
                               const std::string& pin_path) {
  if (!PathExists(pin_path)) return AttachAndPin(object, target, pin_path);

  auto old_link = OpenPinnedLink(pin_path);
  if (!old_link.ok()) return old_link.error();
  auto info = QueryLink(old_link->get(), pin_path);
  if (!info.ok()) return info.error();
  if (info->type == target.type && info->target_id == target.id) {
    if (int err = bpf_link__update_program(old_link->get(), object.program()); err != 0) {
      return internal::HookError(object.hook(), "replace the program of pinned link " + pin_path, -err);
    }
    return Ok();
  }
  // Stale pin (its cgroup/netns was recreated or is gone). Attach the new link before touching the
  // old one so the target is covered throughout, then move the pin over.
  auto new_link = Attach(object, target);
  if (!new_link.ok()) return new_link.error();
  bpf_link__detach(old_link->get());  // best effort: a defunct link has nothing to detach
  if (unlink(pin_path.c_str()) != 0) return ErrnoError("remove stale pinned link " + pin_path);
  return Pin(object, new_link->get(), pin_path);
}

Result<bool> RefreshPinnedLink(const LoadedBpfObject& object, const std::string& pin_path) {
  auto link = OpenPinnedLink(pin_path);
  if (!link.ok()) return link.error();
  auto info = QueryLink(link->get(), pin_path);
  if (!info.ok()) return info.error();
  if (info->target_id == 0) {
    if (unlink(pin_path.c_str()) != 0) return ErrnoError("remove defunct pinned link " + pin_path);
    return false;
  }
  if (int err = bpf_link__update_program(link->get(), object.program()); err != 0) {
    return internal::HookError(object.hook(), "replace the program of pinned link " + pin_path, -err);
  }
  return true;
}

Result<void> RemovePinnedLink(const std::string& pin_path) {
  if (!PathExists(pin_path)) return Ok();
  auto link = OpenPinnedLink(pin_path);
  if (!link.ok()) return link.error();
  // BPF_LINK_DETACH (5.9) detaches now, whoever else still holds the link.
  if (int err = bpf_link__detach(link->get()); err != 0 && err != -ENOLINK) {
    return MakeError("detach pinned link " + pin_path, -err);
  }
  if (unlink(pin_path.c_str()) != 0 && errno != ENOENT) return ErrnoError("unpin link " + pin_path);
  return Ok();
}

}  // namespace ferry::agent
