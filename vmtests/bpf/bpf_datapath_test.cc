// Proves the datapath hooks on the running kernel: outbound redirection with the original
// destination recorded (connect4/6, sockops, getpeername), inbound steering (sk_lookup), fail-closed
// behaviour when the agent's listener is gone, and restart/uninstall of the pinned state.
#include <linux/types.h>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "agent/bpf/bpf_datapath.h"
#include "privileged.h"
#include "test_result.h"
#include "test_sockets.h"
#include "test_topology.h"

namespace ferry::vmtest {
namespace {

using agent::BpfDatapath;
using agent::PodAttachment;

constexpr int kConnectTimeoutMs = 5000;  // generous: only a failure ever waits this long
constexpr int kNothingArrivesMs = 300;   // checked after the expected connection already landed
constexpr int kDroppedSynWaitMs = 1500;  // long enough for a SYN and its reset on veths

uint32_t PodIp() { return *ParseIpv4(TestTopology::kPodIp); }

class BpfDatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FERRY_REQUIRE_PRIVILEGED();
    ASSERT_EQ(topology_.Create(), "");
    remote_ = ListenIn(topology_.peer_netns(), Address(TestTopology::kRemoteIp, 8080));
    ASSERT_TRUE(remote_.valid());
    outbound_ = ListenIn(topology_.pod_netns(), Address(TestTopology::kPodIp, FERRY_PORT_OUTBOUND));
    inbound_ = ListenIn(topology_.pod_netns(), Address(TestTopology::kPodIp, FERRY_PORT_INBOUND));
    ASSERT_TRUE(outbound_.valid() && inbound_.valid());
    cookie_ = NetnsCookie(topology_.pod_netns());
    ASSERT_NE(cookie_, 0u);
    ASSERT_NO_FATAL_FAILURE(OpenDatapath());
    ASSERT_OK(datapath_->EnrollPod(Pod()));
  }

  void OpenDatapath() {
    auto opened = BpfDatapath::Open({topology_.pin_dir(), topology_.cgroup_dir()});
    ASSERT_OK(opened);
    datapath_ = std::move(opened).value();
  }

  PodAttachment Pod() const {
    return {"default_pod", cookie_, PodIp(), topology_.pod_netns(), inbound_.get()};
  }

  ConnectOutcome PodConnect(const std::string& ip, uint16_t port, uint32_t mark = 0) {
    return ConnectAsPod(topology_.cgroup_dir(), topology_.pod_netns(), Address(ip, port), kConnectTimeoutMs,
                        mark);
  }

  ConnectOutcome ConnectFromPeer(const std::string& ip, uint16_t port, int timeout_ms) {
    ScopedNetns in(topology_.peer_netns());
    if (!in.ok()) return {EBADF};
    return ConnectNow(Address(ip, port), timeout_ms);
  }

  // Accepts the redirected connection on the outbound listener and takes its original destination.
  std::optional<Ipv4Endpoint> AcceptRedirected() {
    UniqueFd accepted = AcceptWithin(outbound_.get(), kConnectTimeoutMs);
    if (!accepted) return std::nullopt;
    sockaddr_storage peer = PeerAddress(accepted.get());
    auto client = Ipv4Endpoint::FromSockaddr(*reinterpret_cast<const sockaddr_in*>(&peer));
    auto taken = datapath_->TakeOriginalDestination(cookie_, client);
    if (!taken.ok()) return std::nullopt;
    return *taken;
  }

  TestTopology topology_;  // destroyed last: removes netns, cgroup and pins
  UniqueFd remote_, outbound_, inbound_;
  uint64_t cookie_ = 0;
  std::unique_ptr<BpfDatapath> datapath_;
};

TEST_F(BpfDatapathTest, PodConnectIsRedirectedToTheOutboundListenerWithItsOriginalDestination) {
  ConnectOutcome client = PodConnect(TestTopology::kRemoteIp, 8080);
  ASSERT_EQ(client.error, 0) << strerror(client.error);
  // The application sees the destination it asked for.
  EXPECT_EQ(ToString(client.peer), "198.18.100.9:8080");

  UniqueFd accepted = AcceptWithin(outbound_.get(), kConnectTimeoutMs);
  ASSERT_TRUE(accepted.valid()) << "the connection did not reach the outbound listener";
  EXPECT_FALSE(AcceptWithin(remote_.get(), kNothingArrivesMs).valid()) << "the connection went around the agent";

  sockaddr_storage peer = PeerAddress(accepted.get());
  ASSERT_EQ(peer.ss_family, AF_INET);
  Ipv4Endpoint client_ep = Ipv4Endpoint::FromSockaddr(*reinterpret_cast<const sockaddr_in*>(&peer));
  EXPECT_EQ(client_ep.addr, PodIp());
  auto first = datapath_->TakeOriginalDestination(cookie_, client_ep);
  ASSERT_OK(first);
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->ToString(), "198.18.100.9:8080");
  auto second = datapath_->TakeOriginalDestination(cookie_, client_ep);
  ASSERT_OK(second);
  EXPECT_FALSE(second->has_value()) << "a record must be taken only once";

  auto counters = datapath_->Counters();
  EXPECT_GE(counters[FERRY_CTR_CONNECT_REDIRECTED], 1u);
  EXPECT_GE(counters[FERRY_CTR_ORIG_DST_RECORDED], 1u);
  EXPECT_GE(counters[FERRY_CTR_GETPEERNAME_REWRITTEN], 1u);
  EXPECT_GE(counters[FERRY_CTR_ORIG_DST_MISSING], 1u);
}

TEST_F(BpfDatapathTest, V4MappedConnectFromAnIpv6SocketIsRedirectedToo) {
  ConnectOutcome client = PodConnect("::ffff:198.18.100.9", 8080);
  ASSERT_EQ(client.error, 0) << strerror(client.error);
  EXPECT_EQ(ToString(client.peer), "[::ffff:198.18.100.9]:8080");
  auto original = AcceptRedirected();
  ASSERT_TRUE(original.has_value());
  EXPECT_EQ(original->ToString(), "198.18.100.9:8080");
}

TEST_F(BpfDatapathTest, LoopbackAndAgentMarkedConnectsAreNotRedirected) {
  UniqueFd local_app = ListenIn(topology_.pod_netns(), Address("127.0.0.1", 8081));
  ASSERT_TRUE(local_app.valid());
  ConnectOutcome loopback = PodConnect("127.0.0.1", 8081);
  ASSERT_EQ(loopback.error, 0) << strerror(loopback.error);
  EXPECT_TRUE(AcceptWithin(local_app.get(), kConnectTimeoutMs).valid());

  ConnectOutcome marked = PodConnect(TestTopology::kRemoteIp, 8080, FERRY_AGENT_MARK);
  ASSERT_EQ(marked.error, 0) << strerror(marked.error);
  EXPECT_TRUE(AcceptWithin(remote_.get(), kConnectTimeoutMs).valid()) << "marked socket was captured";
  EXPECT_FALSE(AcceptWithin(outbound_.get(), kNothingArrivesMs).valid());
  EXPECT_GE(datapath_->Counters()[FERRY_CTR_CONNECT_SKIPPED_MARK], 1u);
}

TEST_F(BpfDatapathTest, UnenrolledNetnsIsUntouched) {
  ConnectOutcome client = ConnectAsPod(topology_.cgroup_dir(), topology_.other_netns(),
                                       Address(TestTopology::kRemoteIp, 8080), kConnectTimeoutMs);
  ASSERT_EQ(client.error, 0) << strerror(client.error);
  UniqueFd accepted = AcceptWithin(remote_.get(), kConnectTimeoutMs);
  ASSERT_TRUE(accepted.valid()) << "connection from an unenrolled pod did not reach its destination";
  EXPECT_EQ(ToString(PeerAddress(accepted.get())).rfind(TestTopology::kOtherIp, 0), 0u);
  EXPECT_FALSE(AcceptWithin(outbound_.get(), kNothingArrivesMs).valid());
}

TEST_F(BpfDatapathTest, NativeIpv6ConnectFromPodIsRefusedButIpv6LoopbackWorks) {
  UniqueFd v6_app = ListenIn(topology_.pod_netns(), Address(TestTopology::kPodIp6, 8080));
  UniqueFd v6_loopback_app = ListenIn(topology_.pod_netns(), Address("::1", 8081));
  ASSERT_TRUE(v6_app.valid() && v6_loopback_app.valid());

  ConnectOutcome native = PodConnect(TestTopology::kPodIp6, 8080);
  EXPECT_EQ(native.error, EPERM) << strerror(native.error);
  ConnectOutcome loopback = PodConnect("::1", 8081);
  EXPECT_EQ(loopback.error, 0) << strerror(loopback.error);
  EXPECT_TRUE(AcceptWithin(v6_loopback_app.get(), kConnectTimeoutMs).valid());
  EXPECT_GE(datapath_->Counters()[FERRY_CTR_CONNECT6_REFUSED], 1u);
}

TEST_F(BpfDatapathTest, InboundConnectionLandsOnTheAgentListenerWithItsOriginalPort) {
  UniqueFd app = ListenIn(topology_.pod_netns(), Address("0.0.0.0", 8080));
  UniqueFd tunnel = ListenIn(topology_.pod_netns(), Address(TestTopology::kPodIp, FERRY_PORT_TUNNEL));
  ASSERT_TRUE(app.valid() && tunnel.valid());

  ConnectOutcome client = ConnectFromPeer(TestTopology::kPodIp, 8080, kConnectTimeoutMs);
  ASSERT_EQ(client.error, 0) << strerror(client.error);
  UniqueFd steered = AcceptWithin(inbound_.get(), kConnectTimeoutMs);
  ASSERT_TRUE(steered.valid()) << "inbound connection did not reach the agent's 15006 listener";
  EXPECT_EQ(ToString(LocalAddress(steered.get())), "198.18.1.2:8080");
  EXPECT_FALSE(AcceptWithin(app.get(), kNothingArrivesMs).valid()) << "inbound bypassed the agent";

  // The mTLS tunnel port is not captured: it authenticates its peers itself.
  ConnectOutcome to_tunnel = ConnectFromPeer(TestTopology::kPodIp, FERRY_PORT_TUNNEL, kConnectTimeoutMs);
  ASSERT_EQ(to_tunnel.error, 0) << strerror(to_tunnel.error);
  EXPECT_TRUE(AcceptWithin(tunnel.get(), kConnectTimeoutMs).valid());
  EXPECT_GE(datapath_->Counters()[FERRY_CTR_SK_LOOKUP_STEERED], 1u);
}

TEST_F(BpfDatapathTest, InboundIsDroppedWhenTheAgentListenerIsGone) {
  UniqueFd app = ListenIn(topology_.pod_netns(), Address("0.0.0.0", 8080));
  ASSERT_TRUE(app.valid());
  inbound_.Reset();  // the agent died: its listener closes and leaves the SOCKHASH

  ConnectOutcome client = ConnectFromPeer(TestTopology::kPodIp, 8080, kDroppedSynWaitMs);
  // SK_DROP makes the listener lookup find no socket, so this kernel (6.18) answers the SYN with a
  // reset (ECONNREFUSED); a silently dropped SYN (ETIMEDOUT) would be just as closed.
  EXPECT_TRUE(client.error == ECONNREFUSED || client.error == ETIMEDOUT)
      << "expected the connection to fail, got: " << (client.error ? strerror(client.error) : "connected");
  EXPECT_FALSE(AcceptWithin(app.get(), kNothingArrivesMs).valid()) << "inbound reached the app unmeshed";
  EXPECT_GE(datapath_->Counters()[FERRY_CTR_SK_LOOKUP_DROPPED], 1u);
}

TEST_F(BpfDatapathTest, UnenrolledPodIsNoLongerCaptured) {
  ASSERT_OK(datapath_->UnenrollPod("default_pod", cookie_, PodIp()));
  ConnectOutcome client = PodConnect(TestTopology::kRemoteIp, 8080);
  ASSERT_EQ(client.error, 0) << strerror(client.error);
  EXPECT_TRUE(AcceptWithin(remote_.get(), kConnectTimeoutMs).valid());

  UniqueFd app = ListenIn(topology_.pod_netns(), Address("0.0.0.0", 8080));
  ASSERT_TRUE(app.valid());
  ConnectOutcome inbound = ConnectFromPeer(TestTopology::kPodIp, 8080, kConnectTimeoutMs);
  ASSERT_EQ(inbound.error, 0) << strerror(inbound.error);
  EXPECT_TRUE(AcceptWithin(app.get(), kConnectTimeoutMs).valid());
  EXPECT_FALSE(std::filesystem::exists(topology_.pin_dir() + "/links/sk_lookup_default_pod"));
}

TEST_F(BpfDatapathTest, RestartKeepsCaptureAndUninstallRemovesEverything) {
  datapath_.reset();  // agent exits: pinned links and maps stay, capture continues
  ConnectOutcome while_down = PodConnect(TestTopology::kRemoteIp, 8080);
  ASSERT_EQ(while_down.error, 0) << strerror(while_down.error);
  EXPECT_TRUE(AcceptWithin(outbound_.get(), kConnectTimeoutMs).valid()) << "capture stopped with the agent";

  ASSERT_NO_FATAL_FAILURE(OpenDatapath());  // the new agent takes the pinned links over
  ASSERT_OK(datapath_->EnrollPod(Pod()));
  auto original = [&] {
    ConnectOutcome client = PodConnect(TestTopology::kRemoteIp, 8080);
    EXPECT_EQ(client.error, 0) << strerror(client.error);
    return AcceptRedirected();
  }();
  ASSERT_TRUE(original.has_value());
  EXPECT_EQ(original->ToString(), "198.18.100.9:8080");
  EXPECT_GE(datapath_->Counters()[FERRY_CTR_CONNECT_REDIRECTED], 2u) << "counters map was not reused";

  datapath_.reset();
  ASSERT_OK(BpfDatapath::Uninstall(topology_.pin_dir()));
  EXPECT_FALSE(std::filesystem::exists(topology_.pin_dir()));
  ConnectOutcome after = PodConnect(TestTopology::kRemoteIp, 8080);
  ASSERT_EQ(after.error, 0) << strerror(after.error);
  EXPECT_TRUE(AcceptWithin(remote_.get(), kConnectTimeoutMs).valid()) << "hooks still attached after Uninstall";
}

TEST_F(BpfDatapathTest, OpenWithAnotherPodCgroupMovesTheCapture) {
  // The node's pod cgroup was recreated or reconfigured between two agent runs: the pinned links
  // of the old cgroup must not be reused for the new one.
  const std::string moved = topology_.cgroup_dir() + "-moved";
  ASSERT_EQ(mkdir(moved.c_str(), 0755), 0) << strerror(errno);
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { rmdir(path.c_str()); }
  } remove_moved{moved};

  datapath_.reset();
  auto reopened = BpfDatapath::Open({topology_.pin_dir(), moved});
  ASSERT_OK(reopened);
  datapath_ = std::move(reopened).value();

  ConnectOutcome from_new = ConnectAsPod(moved, topology_.pod_netns(), Address(TestTopology::kRemoteIp, 8080),
                                         kConnectTimeoutMs);
  ASSERT_EQ(from_new.error, 0) << strerror(from_new.error);
  auto original = AcceptRedirected();
  ASSERT_TRUE(original.has_value()) << "a pod in the new cgroup was not captured";
  EXPECT_EQ(original->ToString(), "198.18.100.9:8080");

  ConnectOutcome from_old = PodConnect(TestTopology::kRemoteIp, 8080);
  ASSERT_EQ(from_old.error, 0) << strerror(from_old.error);
  EXPECT_TRUE(AcceptWithin(remote_.get(), kConnectTimeoutMs).valid()) << "the old cgroup is still captured";
}

TEST(BpfDatapathOpenTest, KernelRunsEveryHook) {
  FERRY_REQUIRE_PRIVILEGED();
  EXPECT_OK(BpfDatapath::ProbeKernelSupport());
}

TEST(BpfDatapathOpenTest, RefusesAPodCgroupOutsideCgroupV2) {
  FERRY_REQUIRE_PRIVILEGED();
  const std::string pin_dir = "/sys/fs/bpf/bpfhelper-open-" + std::to_string(getpid());
  auto opened = BpfDatapath::Open({pin_dir, "/proc"});
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().Message().find("cgroup"), std::string::npos) << opened.error().Message();
  EXPECT_OK(BpfDatapath::Uninstall(pin_dir));
}

}  // namespace
}  // namespace ferry::vmtest
