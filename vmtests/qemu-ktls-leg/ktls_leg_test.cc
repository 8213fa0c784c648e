// The tunnel's SecureLegs over a real loopback TCP connection: setup (TLS 1.3 + CONNECT), the
// kTLS hand-off of both ends, 16 MiB each way, close_notify. Inside the qemu guest (Debian's 6.1
// kernel, FERRY_IN_QEMU=1) kTLS must be used; on a host without kTLS the same test passes through
// the user-space record path instead (OffloadToKernel() says no, mode "userspace").
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

#include "agent/tunnel/ktls.h"
#include "agent/tunnel/tunnel_leg.h"
#include "leg_socket_driver.h"
#include "support/tls_stat.h"
#include "support/tls_test_context.h"
#include "test_result.h"
#include "tunnel/test_pki.h"

namespace ferry::vmtest {
namespace {

using tunnel::TlsRole;

const std::string kClientId = "spiffe://cluster.local/ns/default/sa/frontend";
const std::string kServerId = "spiffe://cluster.local/ns/default/sa/api";
constexpr uint32_t kPodIp = 0xC6120707;  // 198.18.7.7: only named in CONNECT, never dialled
constexpr uint64_t kMiB = 1024 * 1024;

bool InQemu() {
  const char* value = std::getenv("FERRY_IN_QEMU");
  return value != nullptr && std::string(value) == "1";
}

std::shared_ptr<tunnel::TlsContext> Context(TlsRole role, const tunnel::testing::TestCa& ca, const std::string& id,
                                            int tickets) {
  return testing::AcceptAnyPeerTlsContext(role, ca, id, tickets);
}

struct LegPair {
  SocketPair sockets;
  std::unique_ptr<proxy::SecureLeg> client;
  std::unique_ptr<proxy::SecureLeg> server;
};

// Connects, runs setup to kReady on both ends and offers both to the kernel.
void EstablishAndOffload(const std::shared_ptr<tunnel::TlsContext>& client_ctx,
                         const std::shared_ptr<tunnel::TlsContext>& server_ctx, LegPair* pair) {
  auto sockets = ConnectNonBlockingLoopbackPair();
  ASSERT_OK(sockets);
  pair->sockets = std::move(*sockets);
  pair->client = tunnel::MakeClientTunnelLeg({client_ctx, kServerId, {kPodIp, 8080}, true});
  pair->server = tunnel::MakeServerTunnelLeg({server_ctx, kPodIp, true});
  auto setup = RunSetupOverSockets(*pair->client, pair->sockets.client.get(), *pair->server, pair->sockets.server.get());
  ASSERT_OK(setup);
  ASSERT_EQ(setup->client.state, proxy::LegSetupState::kReady) << setup->client.reason;
  ASSERT_EQ(setup->server.state, proxy::LegSetupState::kReady) << setup->server.reason;
  EXPECT_EQ(setup->request.peer_identity, kClientId);
  EXPECT_TRUE(pair->client->TakeEarlyPlaintext().empty());
  EXPECT_TRUE(pair->server->TakeEarlyPlaintext().empty());

  bool usable = tunnel::KernelTlsUsable();
  if (InQemu()) {
    ASSERT_TRUE(usable) << tunnel::KtlsAvailable().detail;
  }
  auto client_offloaded = pair->client->OffloadToKernel(pair->sockets.client.get());
  auto server_offloaded = pair->server->OffloadToKernel(pair->sockets.server.get());
  ASSERT_OK(client_offloaded);
  ASSERT_OK(server_offloaded);
  EXPECT_EQ(*client_offloaded, usable);
  EXPECT_EQ(*server_offloaded, usable);
  std::string expected_mode = usable ? "ktls" : "userspace";
  EXPECT_EQ(pair->client->mode(), expected_mode);
  EXPECT_EQ(pair->server->mode(), expected_mode);
}

// Both directions at once (one thread per end, like two engine workers), then the checks.
void TransferBothWays(LegPair& pair, uint64_t bytes) {
  StreamReport at_client, at_server;
  auto started = std::chrono::steady_clock::now();
  std::thread client([&] { at_client = RunDataPhase(*pair.client, pair.sockets.client.get(), 1, bytes); });
  std::thread server([&] { at_server = RunDataPhase(*pair.server, pair.sockets.server.get(), 2, bytes); });
  client.join();
  server.join();
  std::cout << "legs in mode " << pair.client->mode() << ": " << bytes / kMiB << " MiB each way in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() << " s\n";
  EXPECT_EQ(at_client.error, "");
  EXPECT_EQ(at_server.error, "");
  EXPECT_EQ(at_server.received_bytes, bytes);
  EXPECT_EQ(at_client.received_bytes, bytes);
  EXPECT_EQ(at_server.received_sha256, ExpectedSha256(1, bytes));
  EXPECT_EQ(at_client.received_sha256, ExpectedSha256(2, bytes));
  // Each end finished with the other's close_notify (ReadKernelRecord -> kPeerClosed under kTLS).
  EXPECT_TRUE(at_client.peer_closed);
  EXPECT_TRUE(at_server.peer_closed);
}

TEST(KtlsLegs, FullHandshakeOffloadedMovesSixteenMebibytesEachWay) {
  tunnel::testing::TestCa ca;
  auto before = testing::ReadTlsStat();
  LegPair pair;
  EstablishAndOffload(Context(TlsRole::kClient, ca, kClientId, 0), Context(TlsRole::kServer, ca, kServerId, 0), &pair);
  if (HasFatalFailure()) return;
  TransferBothWays(pair, 16 * kMiB);
  if (!tunnel::KernelTlsUsable()) return;
  auto after = testing::ReadTlsStat();
  EXPECT_GE(after["TlsTxSw"], before["TlsTxSw"] + 2);  // both ends installed transmit keys ...
  EXPECT_GE(after["TlsRxSw"], before["TlsRxSw"] + 2);  // ... and receive keys
  EXPECT_EQ(after["TlsDecryptError"], 0u);
}

// Tickets are post-handshake records the client reads in user space while it waits for the 200;
// the kernel's receive sequence must start after them, also on a resumed connection.
TEST(KtlsLegs, ResumedTunnelWithTicketsInFlightOffloads) {
  tunnel::testing::TestCa ca;
  auto client_ctx = Context(TlsRole::kClient, ca, kClientId, 0);
  auto server_ctx = Context(TlsRole::kServer, ca, kServerId, 2);
  auto before = testing::ReadTlsStat();
  {
    LegPair first;
    EstablishAndOffload(client_ctx, server_ctx, &first);
    if (HasFatalFailure()) return;
    EXPECT_EQ(client_ctx->session_cache().Count(kServerId), 2u);
    TransferBothWays(first, 1 * kMiB);
  }
  LegPair second;
  EstablishAndOffload(client_ctx, server_ctx, &second);
  if (HasFatalFailure()) return;
  // One ticket was spent on the resumption, one more arrived with it.
  EXPECT_EQ(client_ctx->session_cache().Count(kServerId), 2u);
  TransferBothWays(second, 1 * kMiB);
  if (!tunnel::KernelTlsUsable()) return;
  auto after = testing::ReadTlsStat();
  EXPECT_GE(after["TlsTxSw"], before["TlsTxSw"] + 4);
  EXPECT_GE(after["TlsRxSw"], before["TlsRxSw"] + 4);
  EXPECT_EQ(after["TlsDecryptError"], 0u);
}

}  // namespace
}  // namespace ferry::vmtest
