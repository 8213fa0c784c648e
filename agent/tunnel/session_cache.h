// Client-side TLS 1.3 resumption tickets, keyed by the peer the connection is for (its expected
// identity). Resuming skips the asymmetric work of a full mutual handshake, which is what caps a
// per-connection tunnel's connection rate.
//
// A cache belongs to exactly one client TlsContext: a ticket proves the *client* certificate of
// the handshake that earned it, so sharing tickets across workloads' contexts would let one
// workload resume as another.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "agent/tunnel/openssl_types.h"

namespace ferry::tunnel {

class TlsSessionCache {
 public:
  explicit TlsSessionCache(size_t tickets_per_peer = 4) : tickets_per_peer_(tickets_per_peer) {}

  // Keeps <session> for <peer_key>; the oldest ticket of that peer goes when the queue is full.
  void Store(const std::string& peer_key, SslSessionPtr session);
  // Removes and returns a still-valid ticket (TLS 1.3 tickets are single use), or null.
  SslSessionPtr Take(const std::string& peer_key);
  size_t Count(const std::string& peer_key) const;
  void Clear();

 private:
  size_t tickets_per_peer_;
  mutable std::mutex mutex_;
  std::map<std::string, std::deque<SslSessionPtr>> sessions_;
};

}  // namespace ferry::tunnel
