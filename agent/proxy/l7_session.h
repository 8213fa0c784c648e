// An application-protocol session on one client connection (Ferry: HTTP/1.1). The engine owns the
// sockets; the session sees the client's bytes and the current upstream's bytes and says what to
// send where. Upstreams are named by opaque keys that the plan's UpstreamOpener understands: the
// engine keeps one idle upstream per key (a per-connection pool), so requests of one keep-alive
// client connection can go to different backends.
//
// Every upstream of an L7 connection is an in-process socketpair whose other end is an ordinary
// relayed connection of the same worker (what the opener's plan says: a plain upstream or an mTLS
// tunnel leg). So an L7 session never deals with TLS, and a leg never with HTTP.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::proxy {

// Why the current upstream went away.
enum class UpstreamEnd {
  kClosed,       // it sent EOF
  kReset,        // a receive or send on it failed (the relayed connection behind it reset)
  kUnavailable,  // it could not be opened (the opener refused, or no socket)
};

struct UpstreamSegment {
  std::string key;    // which upstream; the engine opens or reuses one for this key
  std::string bytes;  // may be empty: only select (open) the upstream
};

// What a session asks for after each call. Bytes are sent in the order given; the engine
// switches from one upstream to another only once everything queued for the first is sent.
struct L7Actions {
  std::string to_client;
  std::vector<UpstreamSegment> to_upstream;
  // After the bytes queued for it, the current upstream is closed instead of kept for reuse
  // (its response said close, or it is in an unknown state).
  bool retire_upstream = false;
  // From now on the connection is a byte stream between the client and the current upstream
  // (an accepted upgrade, or a connection that is not HTTP): the engine relays without the
  // session, with half-closes passed on. Bytes already queued go first.
  bool become_stream = false;
  enum class End {
    kNone,
    kFinish,  // once `to_client` is sent: FIN to the client, then close every socket
    kReset,   // reset the client and close every socket now
  };
  End end = End::kNone;
  std::string reason;  // kFinish / kReset: why, for logs
};

class L7Session {
 public:
  virtual ~L7Session() = default;
  // Called on the worker thread, one call at a time. Views are valid only during the call.
  virtual void OnClientBytes(std::string_view bytes, L7Actions& out) = 0;
  virtual void OnClientEof(L7Actions& out) = 0;
  // Bytes from the current upstream: the one the last segment was sent to (not yet retired).
  virtual void OnUpstreamBytes(std::string_view bytes, L7Actions& out) = 0;
  // The current upstream ended; it is forgotten (a new segment opens a new one).
  virtual void OnUpstreamEnd(UpstreamEnd end, std::string_view reason, L7Actions& out) = 0;
  // Flow control: the engine receives from the client / the current upstream only while true.
  virtual bool WantsClientBytes() const = 0;
  virtual bool WantsUpstreamBytes() const = 0;
};

}  // namespace ferry::proxy
