// NormalizePath: the single form that is both matched and forwarded.
#include "agent/http/path_normalizer.h"

#include <gtest/gtest.h>

#include "test_result.h"

namespace ferry::http {
namespace {

struct NormCase {
  const char* target;
  const char* path;   // expected normalised path; nullptr = error
  const char* query;  // expected query (nullptr = none)
};

class Normalize : public ::testing::TestWithParam<NormCase> {};

TEST_P(Normalize, Table) {
  const NormCase& c = GetParam();
  auto result = NormalizePath(c.target);
  if (c.path == nullptr) {
    EXPECT_FALSE(result.ok()) << c.target << " -> " << result->path;
    return;
  }
  ASSERT_TRUE(result.ok()) << c.target << ": " << result.error().Message();
  EXPECT_EQ(result->path, c.path) << c.target;
  EXPECT_EQ(result->has_query, c.query != nullptr) << c.target;
  if (c.query != nullptr) {
    EXPECT_EQ(result->query, c.query) << c.target;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Normalize,
    ::testing::Values(
        NormCase{"/", "/", nullptr}, NormCase{"/api/values", "/api/values", nullptr},
        NormCase{"/api/values/", "/api/values/", nullptr},
        NormCase{"/api/values?x=1&y=%2F", "/api/values", "x=1&y=%2F"},  // query kept as received
        NormCase{"/a?", "/a", ""}, NormCase{"/a?b?c", "/a", "b?c"},
        NormCase{"//a//b", "/a/b", nullptr}, NormCase{"/a///b//", "/a/b/", nullptr},
        NormCase{"/a/./b/../c", "/a/c", nullptr}, NormCase{"/a/b/..", "/a/", nullptr},
        NormCase{"/a/b/.", "/a/b/", nullptr}, NormCase{"/a/..", "/", nullptr},
        // ".." removes the segment before it (RFC 3986 5.2.4): "values", not "api".
        NormCase{"/api/values/../admin", "/api/admin", nullptr},
        NormCase{"/api/values/../../admin", "/admin", nullptr},
        NormCase{"/api/values/%2e%2e/admin", "/api/admin", nullptr},  // decoded before resolving
        NormCase{"/api/values/%2E%2e/%2E/%2e./admin", "/admin", nullptr},
        NormCase{"/api/%76alues", "/api/values", nullptr},  // unreserved letter decoded
        NormCase{"/%7Euser/%2D%5F", "/~user/-_", nullptr},
        NormCase{"/a%2Fb", "/a%2Fb", nullptr},                    // escaped slash stays escaped
        NormCase{"/a%2fb", "/a%2Fb", nullptr},                    // ... with upper-case hex
        NormCase{"/a%2f..%2fadmin", "/a%2F..%2Fadmin", nullptr},  // not a separator: no climbing
        NormCase{"/a%20b%3f", "/a%20b%3F", nullptr},
        NormCase{"/a%25b", "/a%25b", nullptr},  // no double decoding
        NormCase{"/..", nullptr, nullptr},      // above root
        NormCase{"/a/../..", nullptr, nullptr}, NormCase{"/%2e%2e/etc/passwd", nullptr, nullptr},
        NormCase{"/../a?q", nullptr, nullptr},
        NormCase{"/a%zz", nullptr, nullptr},  // invalid escapes
        NormCase{"/a%2", nullptr, nullptr}, NormCase{"/a%", nullptr, nullptr},
        NormCase{"/a%00b", nullptr, nullptr},  // escaped NUL / control
        NormCase{"/a%0Ab", nullptr, nullptr},
        NormCase{"/a\x01"
                 "b",
                 nullptr, nullptr},  // raw control
        NormCase{"/a?x=\x7f", nullptr, nullptr}, NormCase{"/a#frag", nullptr, nullptr},
        NormCase{"*", nullptr, nullptr}, NormCase{"api.example:443", nullptr, nullptr},
        NormCase{"", nullptr, nullptr},
        NormCase{"http://api.simple-app:8080/api//values?x", "/api/values", "x"},
        NormCase{"http://api", "/", nullptr}));

TEST(BuildTarget, RebuildsPathAndQuery) {
  auto t = NormalizePath("/api/./values/?a=%2F");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(BuildTarget(*t), "/api/values/?a=%2F");
  auto bare = NormalizePath("//x/");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(BuildTarget(*bare), "/x/");
  auto empty_query = NormalizePath("/x?");
  ASSERT_TRUE(empty_query.ok());
  EXPECT_EQ(BuildTarget(*empty_query), "/x?");
}

// Normalising is idempotent: forwarding the normalised target and normalising it again (as the
// destination agent does after a source agent forwarded it) gives the same string.
TEST(BuildTarget, NormalisedTargetsAreFixedPoints) {
  for (const char* target : {"/a/./b/../c?x", "//a%2f%41/", "/%7e/..%2F/", "/x?y=%00"}) {
    auto once = NormalizePath(target);
    if (!once.ok()) continue;
    auto twice = NormalizePath(BuildTarget(*once));
    ASSERT_TRUE(twice.ok()) << target;
    EXPECT_EQ(BuildTarget(*twice), BuildTarget(*once)) << target;
  }
}

}  // namespace
}  // namespace ferry::http
