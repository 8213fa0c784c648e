// Serialised heads and the proxy's own answers read back as the same messages.
#include <gtest/gtest.h>

#include "agent/http/http_serialize.h"
#include "agent/http/path_normalizer.h"
#include "agent/http/request_reader.h"
#include "agent/http/response_reader.h"
#include "http_transcript.h"

namespace ferry::http {
namespace {

TEST(Serialize, ForwardedRequestCarriesTheNormalisedTarget) {
  RequestReader reader;
  http_test::Transcript t;
  t.Add(reader.Feed("GET /api/./values//?q=1 HTTP/1.1\r\nHost: api\r\nX-Trace: a b\r\n\r\n"));
  ASSERT_EQ(t.messages.size(), 1u);
  auto target = NormalizePath(t.messages[0].head.target);
  ASSERT_TRUE(target.ok());
  const std::string forwarded = SerializeRequestHead(t.messages[0].head, BuildTarget(*target));
  EXPECT_EQ(forwarded, "GET /api/values/?q=1 HTTP/1.1\r\nHost: api\r\nX-Trace: a b\r\n\r\n");
}

TEST(Serialize, ErrorResponseIsAWellFramedResponse) {
  const std::string denied =
      MakeErrorResponse(403, "GET /admin: path matches no allowed route", false);
  ResponseReader reader;
  reader.ExpectResponseTo("GET");
  http_test::Transcript t;
  t.Add(reader.Feed(denied));
  ASSERT_FALSE(t.failed) << t.error.reason;
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 403);
  EXPECT_EQ(t.messages[0].head.reason, "Forbidden");
  EXPECT_EQ(t.messages[0].payload, "GET /admin: path matches no allowed route\n");
  EXPECT_TRUE(t.messages[0].keep_alive);  // a denial leaves the connection usable

  const std::string bad = MakeErrorResponse(400, "obs-fold header continuation line", true);
  ResponseReader closing;
  closing.ExpectResponseTo("GET");
  http_test::Transcript c;
  c.Add(closing.Feed(bad));
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_FALSE(c.messages[0].keep_alive);
  EXPECT_EQ(SerializeResponseHead(c.messages[0].head), bad.substr(0, bad.find("\r\n\r\n") + 4));
}

}  // namespace
}  // namespace ferry::http
