// ferry-bench-tls-handshake: connections per second of the mTLS tunnel's setup, over memory BIOs
// (no sockets, one thread), with ECDSA P-256 leaves like the mesh issues:
//   full       TLS 1.3 mutual handshake (ECDHE + two certificate chains signed and verified)
//   resumed    a ticket from an earlier connection (psk_dhe_ke: ECDHE still, no certificates)
//   psk_ke     resumption without ECDHE (no forward secrecy), if OpenSSL will negotiate it
//   leg/...    the same through the tunnel legs (handshake + CONNECT + 200), what a connection pays
// Modes run interleaved in each repetition; the table has medians and ratios to "full".
// A benchmark measures; nothing here asserts a number.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/tunnel/tls_session.h"
#include "agent/tunnel/tunnel_leg.h"
#include "tests/tunnel/test_pki.h"

namespace ferry::bench {
namespace {

using tunnel::TlsContext;
using tunnel::TlsRole;
using tunnel::TlsSession;
using Clock = std::chrono::steady_clock;

const std::string kClientId = "spiffe://cluster.local/ns/default/sa/frontend";
const std::string kServerId = "spiffe://cluster.local/ns/default/sa/api";
constexpr uint32_t kPodIp = 0xC6120105;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ferry-bench-tls-handshake: %s\n", what.c_str());
  std::exit(1);
}

// Peer chains checked so far (a resumed handshake checks none).
int g_verifications = 0;

// Checks the URI SAN like the agent's verifier would (the cost of a real check, not a no-op).
tunnel::PeerVerifier SpiffeVerifier() {
  return [](X509* leaf, STACK_OF(X509) *) -> Result<void> {
    ++g_verifications;
    if (tunnel::testing::UriSan(leaf).rfind("spiffe://cluster.local/", 0) != 0) return MakeError("trust domain");
    return Ok();
  };
}

std::shared_ptr<TlsContext> Context(TlsRole role, const tunnel::testing::TestCa& ca, const std::string& id,
                                    int tickets, bool allow_no_dhe) {
  tunnel::TlsContextOptions options;
  options.role = role;
  options.credentials = ca.IssueLeaf(id);
  options.trust_roots.push_back(ca.ShareRoot());
  options.session_tickets = tickets;
  options.verify_peer = SpiffeVerifier();
  auto context = TlsContext::Create(std::move(options));
  if (!context) Die(context.error().Message());
  // psk_ke is an OpenSSL option both ends must allow; TlsContext has no knob for it (on purpose).
  if (allow_no_dhe) SSL_CTX_set_options((*context)->native(), SSL_OP_ALLOW_NO_DHE_KEX);
  return *context;
}

// Whether a TLS 1.3 ServerHello (the first record of the server's first flight, sent in clear)
// carries a key_share extension, i.e. whether this handshake ran ECDHE.
bool ServerHelloHasKeyShare(const std::vector<uint8_t>& flight) {
  // record header (5) + handshake header (4) + version (2) + random (32)
  size_t at = 5 + 4 + 2 + 32;
  if (flight.size() < at + 1) return false;
  at += 1 + flight[at];  // legacy_session_id
  at += 2 + 1;           // cipher suite, compression
  if (flight.size() < at + 2) return false;
  size_t end = std::min(flight.size(), at + 2 + (size_t{flight[at]} << 8 | flight[at + 1]));
  for (at += 2; at + 4 <= end;) {
    unsigned type = flight[at] << 8 | flight[at + 1];
    size_t length = size_t{flight[at + 2]} << 8 | flight[at + 3];
    if (type == 0x0033) return true;
    at += 4 + length;
  }
  return false;
}

struct HandshakeFacts {
  bool resumed = false;
  bool ecdhe = false;
};

// One connection's TLS handshake to completion, including the client reading the server's
// tickets (as the client leg does while it waits for the CONNECT response).
HandshakeFacts OneHandshake(const std::shared_ptr<TlsContext>& client_ctx, const std::shared_ptr<TlsContext>& server_ctx,
                            const std::string& peer_key) {
  auto client = TlsSession::Create(client_ctx, peer_key);
  auto server = TlsSession::Create(server_ctx);
  if (!client || !server) Die("session");
  HandshakeFacts facts;
  bool first_server_flight = true;
  uint8_t scratch[256];
  for (int round = 0; round < 6; ++round) {
    auto c = (*client)->Handshake();
    if (!c) Die(c.error().Message());
    auto to_server = (*client)->TakeCiphertext();
    if (!to_server.empty() && !(*server)->FeedCiphertext(to_server).ok()) Die("feed server");
    auto s = (*server)->Handshake();
    if (!s) Die(s.error().Message());
    auto to_client = (*server)->TakeCiphertext();
    if (first_server_flight && !to_client.empty()) {
      facts.ecdhe = ServerHelloHasKeyShare(to_client);
      first_server_flight = false;
    }
    if (!to_client.empty() && !(*client)->FeedCiphertext(to_client).ok()) Die("feed client");
    if (*c && *s && to_client.empty() && to_server.empty()) break;
  }
  if ((*client)->state() != tunnel::TlsState::kEstablished) Die("handshake did not complete");
  auto tickets = (*client)->Read(scratch);  // processes the NewSessionTicket messages
  if (!tickets) Die(tickets.error().Message());
  facts.resumed = (*client)->resumed();
  return facts;
}

// One tunnel setup through the legs: handshake, CONNECT, 200, both kReady.
HandshakeFacts OneLegSetup(const std::shared_ptr<TlsContext>& client_ctx, const std::shared_ptr<TlsContext>& server_ctx) {
  auto client = tunnel::MakeClientTunnelLeg({client_ctx, kServerId, {kPodIp, 8080}, true});
  auto server = tunnel::MakeServerTunnelLeg({server_ctx, kPodIp, true});
  std::vector<uint8_t> to_server, to_client;
  int verifications = g_verifications;
  auto c = client->Start(&to_server);
  auto s = server->Start(&to_client);
  for (int round = 0; round < 8 && (!to_server.empty() || !to_client.empty()); ++round) {
    if (!to_server.empty()) {
      s = server->OnSetupBytes(std::exchange(to_server, {}), &to_client);
      if (s.state == proxy::LegSetupState::kNeedDecision) s = server->Accept(&to_client);
    }
    if (!to_client.empty()) c = client->OnSetupBytes(std::exchange(to_client, {}), &to_server);
  }
  if (c.state != proxy::LegSetupState::kReady || s.state != proxy::LegSetupState::kReady) {
    Die("leg setup failed: " + c.reason + s.reason);
  }
  // The legs hide their session: a setup that checked no chain was resumed. ECDHE: always
  // (psk_dhe_ke), the legs' contexts do not allow psk_ke.
  return {g_verifications == verifications, true};
}

struct Mode {
  std::string name;
  std::function<HandshakeFacts()> run;
  HandshakeFacts facts;
  std::vector<double> rates;
};

double Rate(Mode& mode, double seconds) {
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  int count = 0;
  do {
    mode.facts = mode.run();
    ++count;
  } while (Clock::now() < deadline);
  return count / std::chrono::duration<double>(Clock::now() - start).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::vector<Mode> BuildModes(const tunnel::testing::TestCa& ca) {
  auto client_plain = Context(TlsRole::kClient, ca, kClientId, 0, false);
  auto server_no_tickets = Context(TlsRole::kServer, ca, kServerId, 0, false);
  auto server_tickets = Context(TlsRole::kServer, ca, kServerId, 1, false);
  auto client_no_dhe = Context(TlsRole::kClient, ca, kClientId, 0, true);
  auto server_no_dhe = Context(TlsRole::kServer, ca, kServerId, 1, true);
  auto client_legs = Context(TlsRole::kClient, ca, kClientId, 0, false);
  // Each resuming mode keeps its own client context, so one mode's tickets never feed another.
  std::vector<Mode> modes;
  modes.push_back({"full (a)", [=] { return OneHandshake(client_plain, server_no_tickets, ""); }, {}, {}});
  modes.push_back({"full + 1 ticket issued", [=] { return OneHandshake(client_plain, server_tickets, ""); }, {}, {}});
  modes.push_back({"resumed psk_dhe_ke (b)", [=] { return OneHandshake(client_plain, server_tickets, kServerId); }, {}, {}});
  modes.push_back({"resumed, psk_ke allowed (c)", [=] { return OneHandshake(client_no_dhe, server_no_dhe, kServerId); }, {}, {}});
  modes.push_back({"leg setup, full", [=] { return OneLegSetup(client_plain, server_no_tickets); }, {}, {}});
  modes.push_back({"leg setup, resumed", [=] { return OneLegSetup(client_legs, server_tickets); }, {}, {}});
  return modes;
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  using namespace ferry::bench;
  CLI::App app{"TLS 1.3 handshake rate of the mTLS tunnel (memory BIOs, one thread)"};
  int repetitions = 5;
  double seconds = 1.0;
  app.add_option("--repetitions", repetitions, "rounds; each runs every mode once")->check(CLI::Range(1, 100));
  app.add_option("--seconds", seconds, "time per mode per round")->check(CLI::Range(0.05, 60.0));
  CLI11_PARSE(app, argc, argv);

  ferry::tunnel::testing::TestCa ca;
  auto modes = BuildModes(ca);
  for (auto& mode : modes) mode.run();  // warm-up; also earns the first tickets
  for (int round = 0; round < repetitions; ++round) {
    for (auto& mode : modes) mode.rates.push_back(Rate(mode, seconds));
  }
  double baseline = Median(modes.front().rates);
  std::printf("%-30s %12s %10s %10s %8s %8s %6s\n", "mode", "median hs/s", "min", "max", "vs (a)", "resumed", "ECDHE");
  for (const auto& mode : modes) {
    double median = Median(mode.rates);
    std::printf("%-30s %12.0f %10.0f %10.0f %7.2fx %8s %6s\n", mode.name.c_str(), median,
                *std::min_element(mode.rates.begin(), mode.rates.end()),
                *std::max_element(mode.rates.begin(), mode.rates.end()), median / baseline,
                mode.facts.resumed ? "yes" : "no", mode.facts.ecdhe ? "yes" : "no");
  }
  std::printf("(%d repetitions x %.2f s per mode; ECDHE = the ServerHello carried a key_share)\n", repetitions,
              seconds);
  return 0;
}
