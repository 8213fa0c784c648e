#include "guest_netlink.h"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "common/unique_fd.h"

namespace ferry::vmtest {
namespace {

// Builds one rtnetlink request: header, ifinfomsg, then (nested) attributes.
class LinkRequest {
 public:
  // <index>: the link the request is about, 0 when creating one.
  LinkRequest(uint16_t type, uint16_t flags, int index) {
    Append(nullptr, NLMSG_HDRLEN);
    Header()->nlmsg_type = type;
    Header()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    Header()->nlmsg_seq = 1;
    AppendIfinfo(index);
  }

  void AppendIfinfo(int index) {
    ifinfomsg info{};
    info.ifi_family = AF_UNSPEC;
    info.ifi_index = index;
    Append(&info, sizeof(info));
  }
  void PutString(uint16_t type, const std::string& value) { Put(type, value.c_str(), value.size() + 1); }
  void PutU32(uint16_t type, uint32_t value) { Put(type, &value, sizeof(value)); }
  // Returns the attribute's offset; pass it to EndNested once its children are in.
  size_t BeginNested(uint16_t type) {
    size_t offset = buffer_.size();
    Put(type, nullptr, 0);
    return offset;
  }
  void EndNested(size_t offset) {
    reinterpret_cast<nlattr*>(buffer_.data() + offset)->nla_len = static_cast<uint16_t>(buffer_.size() - offset);
  }
  const std::vector<char>& Finish() {
    Header()->nlmsg_len = static_cast<uint32_t>(buffer_.size());
    return buffer_;
  }

 private:
  nlmsghdr* Header() { return reinterpret_cast<nlmsghdr*>(buffer_.data()); }
  void Put(uint16_t type, const void* data, size_t size) {
    nlattr attr{static_cast<uint16_t>(NLA_HDRLEN + size), type};
    Append(&attr, sizeof(attr));
    Append(data, size);
  }
  // Appends <size> bytes (zeros when data is null), padded to netlink's 4-byte alignment.
  void Append(const void* data, size_t size) {
    size_t offset = buffer_.size();
    buffer_.resize(offset + NLMSG_ALIGN(size), 0);
    if (data != nullptr) std::memcpy(buffer_.data() + offset, data, size);
  }

  std::vector<char> buffer_;
};

// Sends the request and waits for the kernel's acknowledgement.
Result<void> Transact(LinkRequest& request, const std::string& what) {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return ErrnoError("socket(NETLINK_ROUTE)");
  const std::vector<char>& message = request.Finish();
  if (send(fd.get(), message.data(), message.size(), 0) < 0) return ErrnoError("send " + what);
  alignas(nlmsghdr) char reply[4096];
  ssize_t n = recv(fd.get(), reply, sizeof(reply), 0);
  if (n < 0) return ErrnoError("recv " + what);
  auto* header = reinterpret_cast<nlmsghdr*>(reply);
  if (!NLMSG_OK(header, static_cast<uint32_t>(n)) || header->nlmsg_type != NLMSG_ERROR) {
    return MakeError(what + ": unexpected netlink reply");
  }
  auto* error = static_cast<nlmsgerr*>(NLMSG_DATA(header));
  if (error->error != 0) return MakeError(what, -error->error);
  return Ok();
}

Result<void> CreateLink(const std::string& name, const std::string& kind, const std::string& peer) {
  LinkRequest request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
  request.PutString(IFLA_IFNAME, name);
  size_t link_info = request.BeginNested(IFLA_LINKINFO);
  request.PutString(IFLA_INFO_KIND, kind);
  if (!peer.empty()) {
    size_t data = request.BeginNested(IFLA_INFO_DATA);
    size_t peer_info = request.BeginNested(VETH_INFO_PEER);
    request.AppendIfinfo(0);  // the peer's own ifinfomsg precedes its attributes
    request.PutString(IFLA_IFNAME, peer);
    request.EndNested(peer_info);
    request.EndNested(data);
  }
  request.EndNested(link_info);
  return Transact(request, "create " + kind + " " + name);
}

}  // namespace

Result<void> CreateVethPair(const std::string& name, const std::string& peer) { return CreateLink(name, "veth", peer); }

Result<void> CreateBridge(const std::string& name) { return CreateLink(name, "bridge", ""); }

Result<void> AttachToBridge(const std::string& name, const std::string& bridge) {
  unsigned port = if_nametoindex(name.c_str());
  unsigned master = if_nametoindex(bridge.c_str());
  if (port == 0 || master == 0) return MakeError("attach " + name + " to " + bridge + ": no such link", ENODEV);
  LinkRequest request(RTM_SETLINK, 0, static_cast<int>(port));
  request.PutU32(IFLA_MASTER, master);
  return Transact(request, "attach " + name + " to " + bridge);
}

}  // namespace ferry::vmtest
