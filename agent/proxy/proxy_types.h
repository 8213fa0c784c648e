// Public types of the io_uring relay engine. The engine moves bytes between an accepted client
// socket and an upstream socket; everything it knows about who is talking (identities, policy,
// network namespaces) arrives through ConnectionHandler and is handed back untouched.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "agent/proxy/l7_session.h"
#include "agent/proxy/secure_leg.h"
#include "common/ipv4.h"
#include "common/unique_fd.h"

namespace ferry::proxy {

// Backpressure bound: at most this many buffers (of ProxyOptions::buffer_size) hold one
// direction's bytes that the destination has not accepted yet. Two let a receive overlap a send.
inline constexpr size_t kMaxBuffersPerDirection = 2;

// Identity/metadata the agent attaches to a connection; the engine only stores it.
struct ConnectionInfo {
  std::string source;  // e.g. "10.0.0.5:41000"
  std::string destination;
  uint16_t destination_port = 0;
  std::string source_ns, source_sa, destination_ns, destination_sa;
  std::string kind;  // "outbound" / "inbound" / "egress"
};

// A connection the engine has just accepted. `fd` stays owned by the engine.
struct AcceptedConnection {
  int fd = -1;
  Ipv4Endpoint peer;   // the client
  Ipv4Endpoint local;  // the listener address the client reached
  uint64_t listener_id = 0;
};

// Relay to `target` through `upstream`, a socket the agent created (possibly inside another
// network namespace) and has not connected yet. The engine connects it.
struct ForwardPlan {
  UniqueFd upstream;
  Ipv4Endpoint target;
  std::shared_ptr<const ConnectionInfo> info;  // may be null: an empty info is used
  // Set: the engine is the initiator of this leg on the upstream socket. After the TCP connect
  // it runs the leg's setup to kReady, then relays through the leg. Not allowed in a plan
  // returned by OnLegRequest (one leg per connection).
  std::unique_ptr<SecureLeg> upstream_leg{};
};

// Refuse. From OnAccept: the client is reset before the engine reads a byte from it. From
// OnLegRequest: the leg answers with `refusal` and `reason`, then the connection closes.
struct DenyPlan {
  std::string reason;
  LegRefusal refusal = LegRefusal::kForbidden;
};

// The accepted client socket is the acceptor side of `leg`: the engine runs its setup and, once
// the peer's request is complete, asks ConnectionHandler::OnLegRequest where to relay.
struct AcceptLegPlan {
  std::unique_ptr<SecureLeg> leg;
  std::shared_ptr<const ConnectionInfo> info;  // may be null; OnLegRequest's plan may replace it
};

class UpstreamOpener;

// The client speaks an application protocol the agent wants to see (HTTP): `session` reads it and
// picks an upstream per request by key; `opener` turns a key into the plan of the relay behind
// that upstream. From OnAccept the client is the accepted socket; from OnLegRequest (and from an
// opener) the engine joins the L7 connection to the asking connection with a socketpair.
struct L7Plan {
  std::unique_ptr<L7Session> session;
  std::shared_ptr<UpstreamOpener> opener;
  std::shared_ptr<const ConnectionInfo> info;  // may be null
};

using Decision = std::variant<ForwardPlan, DenyPlan, AcceptLegPlan, L7Plan>;

class UpstreamOpener {
 public:
  virtual ~UpstreamOpener() = default;
  // Runs on the worker thread; must not block. The plan of the relay that carries upstream `key`:
  // a ForwardPlan (possibly with an upstream leg) or an L7Plan; a DenyPlan's reason is what the
  // session is told (UpstreamEnd::kUnavailable).
  virtual Decision Open(const std::string& key) = 0;
};

enum class CloseReason {
  kCompleted,         // both sides finished with FIN
  kClientReset,       // the client reset or failed; the upstream was reset
  kUpstreamReset,     // the upstream reset or failed; the client was reset
  kConnectFailed,     // upstream connect failed (e.g. refused); the client was reset
  kConnectTimeout,    // upstream connect exceeded connect_timeout; the client was reset
  kIdleTimeout,       // no byte either way for idle_timeout
  kHalfCloseTimeout,  // one direction stayed open half_close_timeout after the other's EOF
  kAborted,           // AbortConnectionsWhere
  kShutdown,          // Proxy::Stop
  kSetupFailed,       // a leg's setup failed, was refused, or exceeded setup_timeout
};
const char* CloseReasonName(CloseReason reason);

struct ConnectionStats {
  uint64_t bytes_client_to_upstream = 0;  // bytes delivered to the upstream socket
  uint64_t bytes_upstream_to_client = 0;
  std::chrono::milliseconds duration{0};
  CloseReason reason = CloseReason::kCompleted;
  std::string tls_mode = "none";  // "none" without a leg, else the leg's mode() at close
};

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // Runs on the worker thread that accepted the connection; must not block.
  virtual Decision OnAccept(const AcceptedConnection& conn) = 0;
  // Runs on the worker thread when the acceptor leg of an AcceptLegPlan has the peer's complete
  // request. ForwardPlan (without upstream_leg): connect it, then accept the request; L7Plan: the
  // request is accepted and its bytes go through that session; DenyPlan: refuse with its refusal
  // and reason. `conn.fd` is the leg's socket: do not read or write it.
  virtual Decision OnLegRequest(const AcceptedConnection& /*conn*/, const LegRequest& /*request*/,
                                const ConnectionInfo& /*info*/) {
    return DenyPlan{"tunnel requests are not handled here", LegRefusal::kForbidden};
  }
  // Runs on the worker thread once both sockets of a forwarded connection are closed.
  virtual void OnClosed(const ConnectionInfo& /*info*/, const ConnectionStats& /*stats*/) {}
};

struct ProxyOptions {
  unsigned workers = 0;  // 0 = one per core
  size_t max_connections = 65536;  // across all workers; beyond it accepts are reset
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{300000};       // no byte either way
  std::chrono::milliseconds half_close_timeout{30000};  // after the first EOF
  size_t buffer_size = 16384;
  unsigned buffers_per_worker = 1024;  // power of two, at most 32768
  // TCP keepalive on both legs.
  std::chrono::seconds keepalive_idle{60};
  std::chrono::seconds keepalive_interval{10};
  int keepalive_count = 6;
  // Cap on io_uring's kernel io-wq threads per worker (bounded, unbounded pools).
  unsigned max_iowq_workers = 2;
  // A leg still in setup this long after its setup started is reset (slowloris on the tunnel).
  std::chrono::milliseconds setup_timeout{10000};
  // Legs in setup at once, across all workers; beyond it new leg connections are reset.
  size_t max_concurrent_setups = 512;
};

struct LiveConnection {
  std::shared_ptr<const ConnectionInfo> info;
  Ipv4Endpoint client;
  Ipv4Endpoint target;
  uint64_t bytes_client_to_upstream = 0;
  uint64_t bytes_upstream_to_client = 0;
  std::chrono::milliseconds age{0};
  bool connecting = false;  // upstream connect still in progress
  std::string tls_mode = "none";  // "none" without a leg, else "setup", "ktls" or "userspace"
};

struct ProxyStats {
  uint64_t accepted = 0;            // accepted from listeners, before the handler decides
  uint64_t denied = 0;              // handler returned DenyPlan (or an unusable ForwardPlan)
  uint64_t refused_over_limit = 0;  // reset because max_connections was reached
  uint64_t active = 0;              // forwarded connections not yet closed
  uint64_t completed = 0;           // closed with FIN both ways
  uint64_t resets = 0;              // reset propagated from one leg to the other
  uint64_t connect_failures = 0;
  uint64_t connect_timeouts = 0;
  uint64_t idle_timeouts = 0;
  uint64_t half_close_timeouts = 0;
  uint64_t aborted = 0;
  uint64_t bytes_client_to_upstream = 0;
  uint64_t bytes_upstream_to_client = 0;
  uint64_t enobufs = 0;           // receives that found the buffer ring empty (they wait, then retry)
  uint64_t buffered_bytes = 0;    // bytes received but not yet sent on, across all connections
  uint64_t buffers_in_use = 0;    // provided buffers currently holding data
  uint64_t setups_active = 0;     // legs in setup now
  uint64_t setups_failed = 0;     // closed with kSetupFailed (failed, refused or timed out)
  uint64_t setups_refused_over_limit = 0;  // reset because max_concurrent_setups was reached
  uint64_t legs_ktls = 0;         // legs that reached the data phase with kTLS (cumulative)
  uint64_t legs_userspace = 0;    // legs that reached the data phase in user space (cumulative)
  uint64_t legs_resumed = 0;      // of those, legs whose handshake resumed a session (cumulative)
};

}  // namespace ferry::proxy
