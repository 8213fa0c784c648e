// A provided-buffer ring (io_uring_register_buf_ring): a pool of equal buffers the kernel picks
// from when a receive completes. A connection holds a buffer only while its bytes are in flight,
// so idle connections cost no buffer memory.
//
// The pool's memory is reserved up front but handed to the kernel gradually: the ring starts
// with a few buffers and doubles (up to `count`) once half of those it has hold data. The
// kernel takes buffers in ring order and recycled ones go to the back, so every buffer ever
// provided is written sooner or later; providing only about twice the worker's peak need keeps
// the resident part of the pool that small instead of all of it (16 MiB at the defaults).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "agent/proxy/io_ring.h"
#include "common/result.h"

namespace ferry::proxy {

class BufferRing {
 public:
  // `count` must be a power of two, at most 32768. Requires kernel 5.19+.
  static Result<std::unique_ptr<BufferRing>> Create(IoRing& ring, uint16_t group_id, unsigned count,
                                                    size_t buffer_size);
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  uint16_t group_id() const { return group_id_; }
  size_t buffer_size() const { return buffer_size_; }
  uint8_t* Data(uint16_t buffer_id) { return base_ + size_t{buffer_id} * buffer_size_; }

  // Records that the kernel handed out a buffer in a completion (and grows the ring if half of
  // the provided buffers are now taken).
  void MarkTaken();
  // Gives the buffer back to the kernel.
  void Recycle(uint16_t buffer_id);
  unsigned in_use() const { return in_use_; }
  // Buffers in the ring now, free for the kernel to pick.
  unsigned available() const { return provided_ - in_use_; }
  // Buffers handed to the kernel so far (at most the `count` of Create).
  unsigned provided() const { return provided_; }

 private:
  BufferRing() = default;
  // Hands up to `more` not-yet-provided buffers to the kernel.
  void Provide(unsigned more);

  IoRing* ring_ = nullptr;
  io_uring_buf_ring* entries_ = nullptr;
  size_t entries_bytes_ = 0;
  uint8_t* base_ = nullptr;
  size_t base_bytes_ = 0;
  size_t buffer_size_ = 0;
  unsigned count_ = 0;
  unsigned provided_ = 0;  // buffers 0..provided_-1 are (or were) in the ring
  unsigned in_use_ = 0;
  uint16_t group_id_ = 0;
  bool registered_ = false;
};

}  // namespace ferry::proxy
