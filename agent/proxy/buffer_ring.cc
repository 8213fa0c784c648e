#include "agent/proxy/buffer_ring.h"

#include <sys/mman.h>

#include <algorithm>

#include "common/result.h"

namespace ferry::proxy {

namespace {
// Buffers in the ring at first (1 MiB at 16 KiB each): a quiet worker never needs more.
constexpr unsigned kInitialBuffers = 64;

void* MapAnonymous(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
}  // namespace

Result<std::unique_ptr<BufferRing>> BufferRing::Create(IoRing& ring, uint16_t group_id,
                                                       unsigned count, size_t buffer_size) {
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
    return MakeError("buffers_per_worker must be a power of two between 1 and 32768");
  }
  if (buffer_size == 0 || buffer_size > (1u << 30)) return MakeError("invalid buffer_size");
  std::unique_ptr<BufferRing> br(new BufferRing());
  br->ring_ = &ring;
  br->group_id_ = group_id;
  br->count_ = count;
  br->buffer_size_ = buffer_size;
  // The ring of descriptors must be page aligned; mmap gives that.
  br->entries_bytes_ = count * sizeof(io_uring_buf);
  br->entries_ = static_cast<io_uring_buf_ring*>(MapAnonymous(br->entries_bytes_));
  if (br->entries_ == nullptr) return ErrnoError("mmap provided-buffer ring");
  br->base_bytes_ = count * buffer_size;
  br->base_ = static_cast<uint8_t*>(MapAnonymous(br->base_bytes_));
  if (br->base_ == nullptr) return ErrnoError("mmap provided buffers");

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(br->entries_);
  reg.ring_entries = count;
  reg.bgid = group_id;
  int rc = io_uring_register_buf_ring(ring.raw(), &reg, 0);
  if (rc < 0) {
    return MakeError("io_uring provided-buffer rings unavailable (io_uring_register_buf_ring, "
                     "kernel 5.19+)", -rc);
  }
  br->registered_ = true;
  io_uring_buf_ring_init(br->entries_);
  br->Provide(kInitialBuffers);
  return br;
}

void BufferRing::Provide(unsigned more) {
  more = std::min(more, count_ - provided_);
  if (more == 0) return;
  int mask = io_uring_buf_ring_mask(count_);
  for (unsigned i = 0; i < more; ++i) {
    auto id = static_cast<uint16_t>(provided_ + i);
    io_uring_buf_ring_add(entries_, Data(id), static_cast<unsigned>(buffer_size_), id, mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(entries_, static_cast<int>(more));
  provided_ += more;
}

void BufferRing::MarkTaken() {
  ++in_use_;
  if (in_use_ * 2 > provided_) Provide(provided_);  // doubles the ring, up to count_
}

BufferRing::~BufferRing() {
  if (registered_) io_uring_unregister_buf_ring(ring_->raw(), group_id_);
  if (base_ != nullptr) munmap(base_, base_bytes_);
  if (entries_ != nullptr) munmap(entries_, entries_bytes_);
}

void BufferRing::Recycle(uint16_t buffer_id) {
  FERRY_ASSERT(in_use_ > 0);
  --in_use_;
  io_uring_buf_ring_add(entries_, Data(buffer_id), static_cast<unsigned>(buffer_size_), buffer_id,
                        io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(entries_, 1);
}

}  // namespace ferry::proxy
