#include "agent/tunnel/session_cache.h"

#include <ctime>

namespace ferry::tunnel {
namespace {

bool StillValid(SSL_SESSION* session) {
  if (SSL_SESSION_is_resumable(session) != 1) return false;
  time_t expires = SSL_SESSION_get_time(session) + SSL_SESSION_get_timeout(session);
  return std::time(nullptr) < expires;
}

}  // namespace

void TlsSessionCache::Store(const std::string& peer_key, SslSessionPtr session) {
  if (!session || tickets_per_peer_ == 0) return;
  std::lock_guard lock(mutex_);
  auto& queue = sessions_[peer_key];
  queue.push_back(std::move(session));
  while (queue.size() > tickets_per_peer_) queue.pop_front();
}

SslSessionPtr TlsSessionCache::Take(const std::string& peer_key) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(peer_key);
  if (it == sessions_.end()) return nullptr;
  auto& queue = it->second;
  SslSessionPtr found;
  while (!queue.empty() && !found) {
    SslSessionPtr candidate = std::move(queue.back());
    queue.pop_back();
    if (StillValid(candidate.get())) found = std::move(candidate);
  }
  if (queue.empty()) sessions_.erase(it);
  return found;
}

size_t TlsSessionCache::Count(const std::string& peer_key) const {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(peer_key);
  return it == sessions_.end() ? 0 : it->second.size();
}

void TlsSessionCache::Clear() {
  std::lock_guard lock(mutex_);
  sessions_.clear();
}

}  // namespace ferry::tunnel
