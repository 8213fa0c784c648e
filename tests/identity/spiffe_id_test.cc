#include "identity/spiffe_id.h"

#include <gtest/gtest.h>

#include <string>

#include "test_result.h"

namespace ferry::identity {
namespace {

using namespace std::string_literals;

struct ParseCase {
  std::string name;
  std::string uri;
  std::string error;  // empty: must parse
};

void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.name; }

class SpiffeIdParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(SpiffeIdParseTest, AcceptsOnlyCanonicalWorkloadIds) {
  const ParseCase& c = GetParam();
  auto id = SpiffeId::Parse(c.uri);
  if (c.error.empty()) {
    ASSERT_OK(id);
    EXPECT_EQ(id->ToString(), c.uri);  // format(parse(x)) round-trips
  } else {
    ASSERT_FALSE(id.ok()) << c.uri << " parsed";
    EXPECT_NE(id.error().Message().find(c.error), std::string::npos)
        << "error \"" << id.error().Message() << "\" does not mention \"" << c.error << "\"";
  }
}

const std::string kLongLabel(64, 'a');

INSTANTIATE_TEST_SUITE_P(
    Table, SpiffeIdParseTest,
    ::testing::Values(
        ParseCase{"simple", "spiffe://cluster.local/ns/default/sa/api", ""},
        ParseCase{"td_with_underscore_dash", "spiffe://my_td-1.example/ns/a-b/sa/c9", ""},
        ParseCase{"sa_subdomain", "spiffe://td/ns/prod/sa/build.bot", ""},
        ParseCase{"max_label", "spiffe://td/ns/"s + std::string(63, 'n') + "/sa/x", ""},
        ParseCase{"upper_scheme", "SPIFFE://td/ns/a/sa/b", "lower-case"},
        ParseCase{"other_scheme", "https://td/ns/a/sa/b", "not a spiffe://"},
        ParseCase{"missing_slashes", "spiffe:td/ns/a/sa/b", "not a spiffe://"},
        ParseCase{"empty_td", "spiffe:///ns/a/sa/b", "trust domain is empty"},
        ParseCase{"upper_td", "spiffe://Cluster.local/ns/a/sa/b", "trust domain contains 'C'"},
        ParseCase{"port", "spiffe://td:8443/ns/a/sa/b", "port"},
        ParseCase{"userinfo", "spiffe://user@td/ns/a/sa/b", "userinfo"},
        ParseCase{"query", "spiffe://td/ns/a/sa/b?x=1", "query"},
        ParseCase{"fragment", "spiffe://td/ns/a/sa/b#frag", "fragment"},
        ParseCase{"percent", "spiffe://td/ns/a/sa/b%2Fc", "percent-encoding"},
        ParseCase{"nul", "spiffe://td/ns/a/sa/b\0evil"s, "NUL"},
        ParseCase{"no_path", "spiffe://td", "no workload path"},
        ParseCase{"root_path", "spiffe://td/", "path must be"},
        ParseCase{"trailing_slash", "spiffe://td/ns/a/sa/b/", "more than"},
        ParseCase{"extra_segment", "spiffe://td/ns/a/sa/b/c", "more than"},
        ParseCase{"wrong_keywords", "spiffe://td/namespace/a/sa/b", "path must be"},
        ParseCase{"swapped", "spiffe://td/sa/b/ns/a", "path must be"},
        ParseCase{"empty_segment", "spiffe://td/ns//sa/b", "namespace is empty"},
        ParseCase{"dot_segment", "spiffe://td/ns/./sa/b", "namespace contains '.'"},
        ParseCase{"dotdot_sa", "spiffe://td/ns/a/sa/..", "service account is empty"},
        ParseCase{"upper_ns", "spiffe://td/ns/Prod/sa/b", "namespace contains 'P'"},
        ParseCase{"leading_dash", "spiffe://td/ns/-a/sa/b", "start and end"},
        ParseCase{"long_label", "spiffe://td/ns/" + kLongLabel + "/sa/b", "longer than 63"},
        ParseCase{"space", "spiffe://td/ns/a b/sa/c", "namespace contains 0x20"},
        ParseCase{"control_char", "spiffe://td/ns/a/sa/b\n", "0x0a"},
        ParseCase{"long_td", "spiffe://" + std::string(256, 't') + "/ns/a/sa/b", "longer than 255"},
        ParseCase{"too_long", "spiffe://td/ns/a/sa/" + std::string(2100, 'b'), "longer than 2048"}),
    [](const ::testing::TestParamInfo<ParseCase>& info) { return info.param.name; });

TEST(SpiffeIdTest, MakeValidatesAndFormats) {
  auto id = SpiffeId::Make("cluster.local", "shop", "frontend");
  ASSERT_OK(id);
  EXPECT_EQ(id->ToString(), "spiffe://cluster.local/ns/shop/sa/frontend");
  EXPECT_EQ(id->trust_domain(), "cluster.local");
  EXPECT_EQ(id->ns(), "shop");
  EXPECT_EQ(id->service_account(), "frontend");
  // A name smuggling extra path must not produce a different identity.
  EXPECT_ERR(SpiffeId::Make("cluster.local", "shop/sa/admin", "x"));
  EXPECT_ERR(SpiffeId::Make("cluster.local", "shop", ""));
}

TEST(SpiffeIdTest, EqualityComparesAllParts) {
  auto a = SpiffeId::Make("td", "ns1", "sa1");
  auto b = SpiffeId::Make("td", "ns1", "sa1");
  auto c = SpiffeId::Make("td", "ns1", "sa2");
  auto d = SpiffeId::Make("td2", "ns1", "sa1");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(a.value(), b.value());
  EXPECT_FALSE(a.value() == c.value());
  EXPECT_FALSE(a.value() == d.value());
}

}  // namespace
}  // namespace ferry::identity
