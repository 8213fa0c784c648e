// What a completion belongs to, packed into io_uring's 64-bit user_data: the low 8 bits name the
// operation, the upper 56 bits the connection (or listener) id.
#pragma once

#include <cstdint>

namespace ferry::proxy {

enum class Op : uint8_t {
  kWake = 1,          // eventfd read: cross-thread tasks are queued
  kTimer,             // periodic sweep for idle / half-close timeouts
  kAccept,            // multishot accept; id = listener id
  kCancelListener,    // async cancel of a listener's accept; id = listener id
  kConnect,           // upstream connect; id = connection id
  kConnectTimeout,    // the timeout linked to kConnect
  kRecvFromClient,    // direction 0: client -> upstream
  kRecvFromUpstream,  // direction 1: upstream -> client
  kSendToUpstream,    // direction 0
  kSendToClient,      // direction 1
  kCancel,            // async cancel of a closing connection's requests
  kCancelInternal,    // async cancel of the worker's own wake/timer requests at shutdown
};

inline uint64_t PackUserData(Op op, uint64_t id) { return (id << 8) | static_cast<uint8_t>(op); }
inline Op UserDataOp(uint64_t user_data) { return static_cast<Op>(user_data & 0xff); }
inline uint64_t UserDataId(uint64_t user_data) { return user_data >> 8; }

// Direction 0 moves client bytes to the upstream, direction 1 the reverse.
inline Op RecvOp(int direction) { return direction == 0 ? Op::kRecvFromClient : Op::kRecvFromUpstream; }
inline Op SendOp(int direction) { return direction == 0 ? Op::kSendToUpstream : Op::kSendToClient; }

}  // namespace ferry::proxy
