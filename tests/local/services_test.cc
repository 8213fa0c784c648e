// Service VIPs and the per-pod hosts file.
#include <gtest/gtest.h>

#include "common/ipv4.h"
#include "local/services.h"
#include "test_result.h"

namespace ferry::local {
namespace {

TEST(VipAllocator, LowestFreeAddressKeptAcrossReapply) {
  VipAllocator vips({});
  auto a = vips.Allocate("shop/a", "");
  auto b = vips.Allocate("shop/b", "");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(FormatIpv4(*a), "198.19.128.1");
  EXPECT_EQ(FormatIpv4(*b), "198.19.128.2");
  auto again = vips.Allocate("shop/a", "");
  ASSERT_OK(again);
  EXPECT_EQ(*again, *a);
  vips.Release("shop/a");
  auto c = vips.Allocate("shop/c", "");
  ASSERT_OK(c);
  EXPECT_EQ(FormatIpv4(*c), "198.19.128.1");  // reused after release
}

TEST(VipAllocator, HonoursRequestedAddressesAndRefusesBadOnes) {
  ServiceRecord existing{"shop", "old", *ParseIpv4("198.19.128.1"), {}, {}};
  VipAllocator vips({existing});
  auto next = vips.Allocate("shop/new", "");
  ASSERT_OK(next);
  EXPECT_EQ(FormatIpv4(*next), "198.19.128.2");
  auto wanted = vips.Allocate("shop/pinned", "198.19.200.7");
  ASSERT_OK(wanted);
  EXPECT_EQ(FormatIpv4(*wanted), "198.19.200.7");
  EXPECT_ERR(vips.Allocate("shop/clash", "198.19.200.7"));
  EXPECT_ERR(vips.Allocate("shop/outside", "10.0.0.1"));
  auto headless = vips.Allocate("shop/headless", "None");
  ASSERT_OK(headless);
  EXPECT_EQ(*headless, 0u);
}

struct HostsFixture : ::testing::Test {
  std::vector<ServiceRecord> services = {
      {"shop", "api", *ParseIpv4("198.19.128.5"), {{"http", 80, "8080", "TCP"}}, {{"app", "api"}}},
      {"shop", "empty", *ParseIpv4("198.19.128.6"), {}, {{"app", "none"}}},
  };
  std::vector<PodAddress> pods = {
      {"shop", "api-1", *ParseIpv4("198.18.2.3"), {{"app", "api"}}},
      {"shop", "api-0", *ParseIpv4("198.18.1.4"), {{"app", "api"}}},
      {"other", "client", *ParseIpv4("198.18.1.9"), {}},
  };
};

TEST_F(HostsFixture, MeshPodsResolveServicesToTheirVip) {
  std::string hosts = RenderHostsFile(pods[0], true, services, pods);
  EXPECT_NE(hosts.find("198.19.128.5\tapi api.shop api.shop.svc.cluster.local\n"), std::string::npos) << hosts;
  EXPECT_NE(hosts.find("198.19.128.6\tempty empty.shop"), std::string::npos) << hosts;
  EXPECT_NE(hosts.find("198.18.2.3\tapi-1\n"), std::string::npos) << hosts;
  EXPECT_NE(hosts.find("127.0.0.1\tlocalhost"), std::string::npos);
}

TEST_F(HostsFixture, OtherPodsResolveToTheFirstEndpointAndOnlyQualifiedNamesAcrossNamespaces) {
  std::string hosts = RenderHostsFile(pods[2], false, services, pods);
  // api-0 sorts first; the bare name "api" belongs to namespace shop only.
  EXPECT_NE(hosts.find("198.18.1.4\tapi.shop api.shop.svc.cluster.local\n"), std::string::npos) << hosts;
  EXPECT_EQ(hosts.find("empty"), std::string::npos) << "a service without endpoints has no address";
  EXPECT_EQ(hosts.find("198.19.128."), std::string::npos) << "no VIPs for pods outside the mesh";
}

}  // namespace
}  // namespace ferry::local
