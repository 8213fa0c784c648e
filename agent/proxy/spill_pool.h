// Spill buffers a worker keeps for its connections' next spill: a connection relaying through a
// user-space leg would otherwise allocate and free a record-sized buffer per record, and one
// that kept its own would hold it while idle. Small and bounded, as it is memory no connection
// is using. One per worker (RelayContext::spill_pool), used from the worker's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ferry::proxy {

class SpillBufferPool {
 public:
  // A pooled buffer (empty, with capacity), or a new empty one.
  std::vector<uint8_t> Take() {
    if (free_.empty()) return {};
    std::vector<uint8_t> buffer = std::move(free_.back());
    free_.pop_back();
    return buffer;
  }
  // Keeps `buffer`'s storage for a later Take(), unless the pool is full or it is too large.
  void Give(std::vector<uint8_t>&& buffer) {
    if (buffer.capacity() == 0) return;
    if (free_.size() >= kMaxBuffers || buffer.capacity() > kMaxCapacity) {
      std::vector<uint8_t>().swap(buffer);
      return;
    }
    buffer.clear();
    free_.push_back(std::move(buffer));
  }

 private:
  static constexpr size_t kMaxBuffers = 8;
  static constexpr size_t kMaxCapacity = 128 * 1024;  // a full user-space spill and a record
  std::vector<std::vector<uint8_t>> free_;
};

}  // namespace ferry::proxy
