// A measurement-only relay that moves bytes in the kernel (DESIGN.md datapath item 9): after it has
// accepted the client and connected to the target, it puts both sockets into a SOCKHASH whose
// sk_skb stream verdict (relay_redirect.bpf.c) sends every received skb out of the paired socket.
// User space only waits for each side's EOF and propagates it as shutdown(SHUT_WR) to the other.
//
// Pairing protocol (what an agent would have to do too):
//  1. write both peer entries, then insert the upstream socket, then the client; the kernel
//     refuses a socket that is no longer ESTABLISHED (e.g. the client already half-closed), and
//     then the whole connection is copied in user space;
//  2. setsockopt(SO_RCVLOWAT, 1) on both sockets: that runs the verdict over bytes queued before
//     the insert, and, because it takes the socket lock, no verdict that missed the peer can still
//     be running after it returns;
//  3. a socket whose verdict ran while its peer was not in the SOCKHASH yet has latched to "pass"
//     (relay_passed): that direction is copied in user space, in order, for the rest of the
//     connection (redirecting later bytes would overtake the passed ones).
// Not the agent's datapath: it exists to measure the fast path and to probe its edge cases.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/ipv4.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::bench {

struct SockmapRelayOptions {
  // Step 2's SO_RCVLOWAT kick (off only to show what happens without it).
  bool kick_after_insert = true;
  // Before propagating a FIN, waits until every byte the verdict redirected from the closing side
  // has been handed to the other socket's TCP (otherwise the FIN can overtake the psock backlog).
  bool drain_before_shutdown = true;
  // Holds each accepted connection this long before inserting it (probes early data).
  std::chrono::milliseconds insert_delay{0};
  // Holds this long between the two inserts (widens the window of step 3).
  std::chrono::milliseconds pair_delay{0};
};

// What the relay observed.
struct SockmapRelayCounters {
  uint64_t connections = 0;
  uint64_t copied_connections = 0;  // a socket could not be inserted: copied in user space
  uint64_t copied_directions = 0;   // a verdict latched to "pass": that direction copied
  uint64_t copied_bytes = 0;        // bytes the relay copied in user space
  uint64_t leftover_bytes = 0;      // bytes still readable at teardown (never relayed: lost)
  uint64_t drain_timeouts = 0;      // FINs sent although redirected bytes had not drained
  uint64_t socket_errors = 0;       // links torn down because of a socket error or map failure
};
// One line: what the relay did, for the benchmarks' reports.
std::string Describe(const SockmapRelayCounters& c);

class SockmapRelay {
 public:
  // Loads and attaches the verdict, listens on 127.0.0.1 (ephemeral port) and relays every
  // connection to `target`. Fails (with the reason) when BPF cannot be loaded, e.g. without root.
  static Result<std::unique_ptr<SockmapRelay>> Start(Ipv4Endpoint target, SockmapRelayOptions options);
  ~SockmapRelay();
  SockmapRelay(const SockmapRelay&) = delete;
  SockmapRelay& operator=(const SockmapRelay&) = delete;

  Ipv4Endpoint address() const { return address_; }
  // Safe to call while the relay runs; exact once connections have finished.
  SockmapRelayCounters counters() const;

 private:
  struct Bpf;
  struct Link;

  SockmapRelay();
  void Run();
  void PollOnce();
  void Accept();
  Result<void> Pair(Link& link);
  void OnReadable(Link& link, int side);
  void PropagateEofs(Link& link);
  bool Drained(const Link& link, int side) const;
  void Teardown(Link& link);

  std::unique_ptr<Bpf> bpf_;
  UniqueFd listener_;
  UniqueFd stop_;
  bool stopping_ = false;
  Ipv4Endpoint address_;
  Ipv4Endpoint target_;
  SockmapRelayOptions options_;
  std::vector<std::unique_ptr<Link>> links_;
  std::atomic<uint64_t> connections_{0}, copied_connections_{0}, copied_directions_{0}, copied_bytes_{0},
      leftover_bytes_{0}, drain_timeouts_{0}, socket_errors_{0};
  std::thread thread_;
};

}  // namespace ferry::bench
