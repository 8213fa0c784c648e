#include "sockmap_relay.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/sockios.h>
#include <linux/tcp.h>  // struct tcp_info with tcpi_bytes_acked (glibc's copy predates it)
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>

#include "ferry_relay_redirect.skel.h"
#include "support/loopback_sockets.h"

namespace ferry::bench {

namespace {

// A FIN waits at most this long for the redirected bytes ahead of it.
constexpr auto kDrainTimeout = std::chrono::seconds(30);

struct SkeletonDeleter {
  void operator()(ferry_relay_redirect* skel) const { ferry_relay_redirect__destroy(skel); }
};

Result<uint64_t> SocketCookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) return ErrnoError("SO_COOKIE");
  return cookie;
}

// Bytes the application has handed to this socket's TCP so far, never overestimated: the acked
// count is read before the unacked queue, so bytes acked in between are missed, not counted twice.
uint64_t BytesHandedToTcp(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  int unacked = 0;
  if (::ioctl(fd, SIOCOUTQ, &unacked) != 0) return 0;
  return info.tcpi_bytes_acked + static_cast<uint64_t>(unacked);
}

}  // namespace

// The loaded verdict and its attachment to the SOCKHASH; detached and freed on destruction.
struct SockmapRelay::Bpf {
  std::unique_ptr<ferry_relay_redirect, SkeletonDeleter> skel;
  bool attached = false;
  ~Bpf() {
    if (attached) {
      (void)bpf_prog_detach2(bpf_program__fd(skel->progs.relay_verdict), socks(), BPF_SK_SKB_STREAM_VERDICT);
    }
  }
  int socks() const { return bpf_map__fd(skel->maps.relay_socks); }
  int peers() const { return bpf_map__fd(skel->maps.relay_peer); }
  int redirected() const { return bpf_map__fd(skel->maps.relay_redirected); }
  int passed() const { return bpf_map__fd(skel->maps.relay_passed); }
};

struct SockmapRelay::Link {
  UniqueFd socket[2];  // [0] client, [1] upstream
  uint64_t cookie[2] = {0, 0};
  uint64_t handed_baseline[2] = {0, 0};  // BytesHandedToTcp before the insert
  bool copy[2] = {false, false};         // bytes received on socket[d] are copied by user space
  bool eof[2] = {false, false};          // socket[d] received a FIN
  bool shut[2] = {false, false};         // shutdown(SHUT_WR) done on socket[d]
  std::chrono::steady_clock::time_point eof_at[2];
  bool dead = false;
};

SockmapRelay::SockmapRelay() = default;

Result<std::unique_ptr<SockmapRelay>> SockmapRelay::Start(Ipv4Endpoint target, SockmapRelayOptions options) {
  std::unique_ptr<SockmapRelay> relay(new SockmapRelay());
  relay->bpf_ = std::make_unique<Bpf>();
  relay->bpf_->skel.reset(ferry_relay_redirect__open_and_load());
  if (!relay->bpf_->skel) return ErrnoError("loading relay_redirect.bpf.o (needs root and sockmap support)");
  if (bpf_prog_attach(bpf_program__fd(relay->bpf_->skel->progs.relay_verdict), relay->bpf_->socks(),
                      BPF_SK_SKB_STREAM_VERDICT, 0) != 0) {
    return ErrnoError("attaching the stream verdict to the SOCKHASH");
  }
  relay->bpf_->attached = true;
  relay->listener_ = ferry::testing::BoundLoopbackSocket(512);
  if (!relay->listener_) return ErrnoError("listen on 127.0.0.1");
  relay->address_ = ferry::testing::LocalAddress(relay->listener_.get());
  relay->stop_.Reset(::eventfd(0, EFD_CLOEXEC));
  relay->target_ = target;
  relay->options_ = options;
  relay->thread_ = std::thread([r = relay.get()] { r->Run(); });
  return relay;
}

SockmapRelay::~SockmapRelay() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)::write(stop_.get(), &one, sizeof(one));
    thread_.join();
  }
  for (auto& link : links_) Teardown(*link);
}

SockmapRelayCounters SockmapRelay::counters() const {
  return SockmapRelayCounters{connections_.load(),    copied_connections_.load(), copied_directions_.load(),
                              copied_bytes_.load(),   leftover_bytes_.load(),     drain_timeouts_.load(),
                              socket_errors_.load()};
}

void SockmapRelay::Run() {
  while (!stopping_) {
    PollOnce();
    for (auto it = links_.begin(); it != links_.end();) {
      if ((*it)->dead) {
        Teardown(**it);
        it = links_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void SockmapRelay::PollOnce() {
  // A redirected direction waits for EOF only (POLLRDHUP alone, so bytes sitting in a receive
  // queue for the verdict never wake the loop); a copied direction also waits for data.
  std::vector<pollfd> fds = {{stop_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}};
  std::vector<std::pair<Link*, int>> owners;
  bool draining = false;
  for (auto& link : links_) {
    for (int d = 0; d < 2; ++d) {
      if (link->eof[d]) {
        draining |= !link->shut[1 - d];
        continue;
      }
      fds.push_back({link->socket[d].get(), static_cast<short>(link->copy[d] ? POLLIN | POLLRDHUP : POLLRDHUP), 0});
      owners.emplace_back(link.get(), d);
    }
  }
  if (::poll(fds.data(), fds.size(), draining ? 1 : -1) < 0) return;
  if (fds[0].revents != 0) {
    stopping_ = true;
    return;
  }
  if (fds[1].revents != 0) Accept();
  for (size_t i = 0; i < owners.size(); ++i) {
    if (fds[i + 2].revents != 0 && !owners[i].first->dead) OnReadable(*owners[i].first, owners[i].second);
  }
  for (auto& link : links_) PropagateEofs(*link);
}

void SockmapRelay::Accept() {
  auto link = std::make_unique<Link>();
  link->socket[0].Reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!link->socket[0]) return;
  connections_.fetch_add(1);
  link->socket[1] = ferry::testing::ConnectTo(target_);
  if (options_.insert_delay.count() > 0) std::this_thread::sleep_for(options_.insert_delay);
  if (!link->socket[1] || !Pair(*link).ok()) {
    socket_errors_.fetch_add(1);
    Teardown(*link);
    return;
  }
  links_.push_back(std::move(link));
}

// The pairing protocol of the header comment.
Result<void> SockmapRelay::Pair(Link& link) {
  for (int d = 0; d < 2; ++d) {
    Result<uint64_t> cookie = SocketCookie(link.socket[d].get());
    if (!cookie) return cookie.error();
    link.cookie[d] = cookie.value();
    link.handed_baseline[d] = BytesHandedToTcp(link.socket[d].get());
  }
  for (int d = 0; d < 2; ++d) {
    uint64_t zero = 0;
    if (bpf_map_update_elem(bpf_->redirected(), &link.cookie[d], &zero, BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_->peers(), &link.cookie[d], &link.cookie[1 - d], BPF_ANY) != 0) {
      return ErrnoError("relay_peer/relay_redirected update");
    }
  }
  // Upstream first: for client-first protocols the client's bytes then always find their peer.
  for (int d : {1, 0}) {
    uint64_t fd = static_cast<uint64_t>(link.socket[d].get());
    if (bpf_map_update_elem(bpf_->socks(), &link.cookie[d], &fd, BPF_NOEXIST) == 0) {
      if (d == 1 && options_.pair_delay.count() > 0) std::this_thread::sleep_for(options_.pair_delay);
      continue;
    }
    if (errno != EOPNOTSUPP) return ErrnoError("SOCKHASH insert");
    // Not ESTABLISHED any more (half-closed already): copy the whole connection. A socket
    // inserted before this one finds no peer in the SOCKHASH, so its verdict passes to recv.
    link.copy[0] = link.copy[1] = true;
    copied_connections_.fetch_add(1);
    return Ok();
  }
  for (int d = 0; d < 2; ++d) {
    int one = 1;
    if (options_.kick_after_insert) ::setsockopt(link.socket[d].get(), SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
  }
  for (int d = 0; d < 2; ++d) {
    uint64_t passed = 0;
    if (bpf_map_lookup_elem(bpf_->passed(), &link.cookie[d], &passed) != 0) continue;
    link.copy[d] = true;
    copied_directions_.fetch_add(1);
  }
  return Ok();
}

// A FIN or error on a redirected direction; data, FIN or error on a copied one.
void SockmapRelay::OnReadable(Link& link, int side) {
  int error = 0;
  socklen_t len = sizeof(error);
  ::getsockopt(link.socket[side].get(), SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    socket_errors_.fetch_add(1);
    link.dead = true;
    return;
  }
  if (link.copy[side]) {
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(link.socket[side].get(), buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
      // Blocking send: a slow peer stalls this loop; acceptable for a measurement prototype.
      if (!ferry::testing::WriteAll(link.socket[1 - side].get(), buf, static_cast<size_t>(n))) {
        socket_errors_.fetch_add(1);
        link.dead = true;
        return;
      }
      copied_bytes_.fetch_add(static_cast<uint64_t>(n));
    }
    if (n < 0) return;  // EAGAIN: wait for more; an error shows in SO_ERROR next time
  }
  link.eof[side] = true;
  link.eof_at[side] = std::chrono::steady_clock::now();
}

void SockmapRelay::PropagateEofs(Link& link) {
  for (int d = 0; d < 2; ++d) {
    if (!link.eof[d] || link.shut[1 - d]) continue;
    if (!link.copy[d] && options_.drain_before_shutdown && !Drained(link, d)) {
      if (std::chrono::steady_clock::now() - link.eof_at[d] < kDrainTimeout) continue;
      drain_timeouts_.fetch_add(1);
    }
    ::shutdown(link.socket[1 - d].get(), SHUT_WR);
    link.shut[1 - d] = true;
  }
  if (link.shut[0] && link.shut[1]) link.dead = true;
}

// True when every byte socket[side] received has gone through the verdict and been handed to the
// other socket's TCP, so a FIN sent there now follows the last byte.
bool SockmapRelay::Drained(const Link& link, int side) const {
  int queued = 0;
  if (::ioctl(link.socket[side].get(), SIOCINQ, &queued) != 0 || queued > 0) return false;
  uint64_t redirected = 0;
  if (bpf_map_lookup_elem(bpf_->redirected(), &link.cookie[side], &redirected) != 0) return false;
  int other = 1 - side;
  return BytesHandedToTcp(link.socket[other].get()) - link.handed_baseline[other] >= redirected;
}

void SockmapRelay::Teardown(Link& link) {
  for (int d = 0; d < 2; ++d) {  // unpair first: no redirect may target a socket being removed
    if (link.cookie[d] != 0) (void)bpf_map_delete_elem(bpf_->peers(), &link.cookie[d]);
  }
  for (int d = 0; d < 2; ++d) {
    if (!link.socket[d]) continue;
    char buf[4096];
    for (ssize_t n; (n = ::recv(link.socket[d].get(), buf, sizeof(buf), MSG_DONTWAIT)) > 0;) {
      leftover_bytes_.fetch_add(static_cast<uint64_t>(n));
    }
    if (link.cookie[d] != 0) {  // deleting a key that is not there is harmless
      (void)bpf_map_delete_elem(bpf_->socks(), &link.cookie[d]);
      (void)bpf_map_delete_elem(bpf_->redirected(), &link.cookie[d]);
      (void)bpf_map_delete_elem(bpf_->passed(), &link.cookie[d]);
    }
    link.socket[d].Reset();
  }
}

std::string Describe(const SockmapRelayCounters& c) {
  char text[320];
  std::snprintf(text, sizeof(text),
                "%llu connections, %llu copied whole (insert refused), %llu directions copied (latched), "
                "%llu B copied, %llu B left unrelayed, %llu drain timeouts, %llu socket errors",
                static_cast<unsigned long long>(c.connections), static_cast<unsigned long long>(c.copied_connections),
                static_cast<unsigned long long>(c.copied_directions), static_cast<unsigned long long>(c.copied_bytes),
                static_cast<unsigned long long>(c.leftover_bytes), static_cast<unsigned long long>(c.drain_timeouts),
                static_cast<unsigned long long>(c.socket_errors));
  return text;
}

}  // namespace ferry::bench
