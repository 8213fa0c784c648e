// The mTLS tunnel (port 15008) as proxy::SecureLegs: TLS 1.3 with mutual certificates through a
// memory-BIO TlsSession, then the CONNECT preface inside it, then either kTLS (the kernel does the
// record layer) or user-space records. The engine owns the sockets; these legs only turn bytes
// into bytes (see agent/proxy/secure_leg.h for the life of a leg).
//
// Client leg (source agent): ClientHello at Start(); once established, the server's certificate
// must carry exactly `expected_peer_id` (the context's PeerVerifier already checked the chain and
// trust domain); then CONNECT <target>; 200 -> kReady, anything else -> kFailed "<status> <reason>".
// Server leg (destination agent): handshake, the peer identity is the URI SAN of the verified
// client certificate (also on a resumed session), then the CONNECT request is parsed and checked
// against the listener pod's IP before the engine is asked (kNeedDecision).
//
// Resumption: server contexts made with session_tickets >= 1 send tickets right after the
// handshake; the client leg offers a cached ticket for `expected_peer_id` and stores new ones
// (it reads them in user space while it waits for the CONNECT response, so the kTLS hand-off
// starts after them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/proxy/secure_leg.h"
#include "agent/tunnel/tls_context.h"
#include "common/ipv4.h"

namespace ferry::tunnel {

struct ClientTunnelLegOptions {
  std::shared_ptr<TlsContext> context;  // client context of the source workload identity
  std::string expected_peer_id;         // SPIFFE URI the destination must present (exact match)
  Ipv4Endpoint target;                  // CONNECT target (the destination pod ip:port)
  bool allow_ktls = true;
};
std::unique_ptr<proxy::SecureLeg> MakeClientTunnelLeg(ClientTunnelLegOptions options);

struct ServerTunnelLegOptions {
  std::shared_ptr<TlsContext> context;  // server context of the destination pod's identity
  uint32_t listener_pod_ip = 0;         // host byte order (as ValidateConnectTarget takes it)
  bool allow_ktls = true;
};
// While a decision is pending (after kNeedDecision, before Accept/Refuse), further OnSetupBytes()
// calls keep the plaintext as early payload and return kContinue (never kNeedDecision twice).
std::unique_ptr<proxy::SecureLeg> MakeServerTunnelLeg(ServerTunnelLegOptions options);

// Whether this kernel does TLS 1.3 AES-GCM-128/256 transmit and receive (KtlsAvailable()),
// probed once per process.
bool KernelTlsUsable();

}  // namespace ferry::tunnel
