#include "vmtests/mesh/underlay_capture.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace ferry::vmtest {
namespace {

constexpr size_t kEthHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;
constexpr uint8_t kIpProtoTcp = 6;
// Big enough for a 64 KiB GSO super-frame; longer frames are truncated (payload tail unseen).
constexpr size_t kFrameBuffer = 256 * 1024;
// Generous so a burst during a test is not dropped while the thread is descheduled.
constexpr int kReceiveBuffer = 32 * 1024 * 1024;
constexpr int kPollMs = 50;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

Result<UniqueFd> OpenPacketSocket(const std::string& ifname) {
  unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) return ErrnoError("if_nametoindex " + ifname);
  // Protocol 0 receives nothing until bind() names the interface, so no frame from another
  // interface can sneak into the queue in between.
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket(AF_PACKET)");
  int size = kReceiveBuffer;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0 &&
      setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0) {
    return ErrnoError("SO_RCVBUF on packet socket");
  }
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(index);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoError("bind packet socket to " + ifname);
  }
  // Promiscuous for the socket's lifetime (the kernel drops it when the socket closes).
  packet_mreq mreq{};
  mreq.mr_ifindex = static_cast<int>(index);
  mreq.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0) {
    return ErrnoError("PACKET_MR_PROMISC on " + ifname);
  }
  return fd;
}

}  // namespace

uint64_t UnderlayCapture::Stats::MarkerHits(const std::string& marker) const {
  for (size_t i = 0; i < markers.size(); ++i) {
    if (markers[i] == marker) return marker_hits[i];
  }
  return 0;
}

Result<std::unique_ptr<UnderlayCapture>> UnderlayCapture::Start(const std::string& ifname,
                                                                std::vector<std::string> markers) {
  for (const auto& m : markers) {
    if (m.empty()) return MakeError("UnderlayCapture: empty marker", EINVAL);
  }
  auto fd = OpenPacketSocket(ifname);
  if (!fd.ok()) return fd.error();
  std::unique_ptr<UnderlayCapture> capture(
      new UnderlayCapture(std::move(fd).value(), std::move(markers)));
  capture->thread_ = std::thread([c = capture.get()] { c->Run(); });
  return capture;
}

UnderlayCapture::UnderlayCapture(UniqueFd fd, std::vector<std::string> markers)
    : fd_(std::move(fd)) {
  stats_.marker_hits.assign(markers.size(), 0);
  stats_.markers = std::move(markers);
}

UnderlayCapture::~UnderlayCapture() { Stop(); }

void UnderlayCapture::Run() {
  std::vector<uint8_t> buffer(kFrameBuffer);
  while (!stop_.load()) {
    pollfd p{fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, kPollMs);
    if (n < 0 && errno != EINTR) return;
    if (n > 0) ReadAvailable(buffer);
  }
}

void UnderlayCapture::ReadAvailable(std::vector<uint8_t>& buffer) {
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) return;  // EAGAIN (drained) or an error; poll tells us if more comes
    Account(buffer.data(), static_cast<size_t>(n));
  }
}

void UnderlayCapture::Account(const uint8_t* frame, size_t length) {
  std::lock_guard lock(mu_);
  ++stats_.frames;
  if (length < kEthHeader) return;
  size_t offset = kEthHeader;
  uint16_t ether_type = Be16(frame + 12);
  while ((ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ) &&
         length >= offset + kVlanTag) {
    ether_type = Be16(frame + offset + 2);
    offset += kVlanTag;
  }
  if (ether_type != kEtherTypeIpv4 || length < offset + 20) return;
  const uint8_t* ip = frame + offset;
  size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != kIpProtoTcp) return;
  // Only the first fragment carries the TCP header.
  if ((Be16(ip + 6) & 0x1fff) != 0) return;
  // tot_len bounds the packet (Ethernet padding follows short ones); 0 means a big-TCP GSO frame.
  size_t ip_end = length - offset;
  if (uint16_t total = Be16(ip + 2); total != 0) ip_end = std::min<size_t>(ip_end, total);
  if (ip_end < ihl + 20) return;
  const uint8_t* tcp = ip + ihl;
  size_t tcp_header = static_cast<size_t>(tcp[12] >> 4) * 4;
  if (tcp_header < 20 || ip_end < ihl + tcp_header) return;
  ++stats_.ipv4_tcp;
  uint16_t sport = Be16(tcp);
  uint16_t dport = Be16(tcp + 2);
  ++stats_.tcp_packets_port[sport];
  if (dport != sport) ++stats_.tcp_packets_port[dport];
  std::string_view payload(reinterpret_cast<const char*>(tcp + tcp_header),
                           ip_end - ihl - tcp_header);
  if (payload.empty()) return;
  for (size_t i = 0; i < stats_.markers.size(); ++i) {
    if (payload.find(stats_.markers[i]) != std::string_view::npos) ++stats_.marker_hits[i];
  }
}

UnderlayCapture::Stats UnderlayCapture::Snapshot() const {
  std::lock_guard lock(mu_);
  return stats_;
}

uint64_t UnderlayCapture::CountPort(uint16_t port) const {
  std::lock_guard lock(mu_);
  return stats_.CountPort(port);
}

uint64_t UnderlayCapture::MarkerHits(const std::string& marker) const {
  std::lock_guard lock(mu_);
  return stats_.MarkerHits(marker);
}

UnderlayCapture::Stats UnderlayCapture::Stop() {
  if (thread_.joinable()) {
    stop_.store(true);
    thread_.join();
    // Frames the kernel queued before the stop request still count.
    std::vector<uint8_t> buffer(kFrameBuffer);
    ReadAvailable(buffer);
    fd_.Reset();
  }
  return Snapshot();
}

}  // namespace ferry::vmtest
