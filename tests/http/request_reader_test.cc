// RequestReader: framing of pipelined requests across arbitrary feed boundaries, the strict rules
// (each one a 400-class error that closes), Expect, upgrades and HTTP/2 refusal.
#include "agent/http/request_reader.h"

#include <gtest/gtest.h>

#include "http_transcript.h"

namespace ferry::http {
namespace {

using http_test::FeedInPieces;
using http_test::Transcript;

constexpr std::string_view kGet =
    "GET /api/values?x=1 HTTP/1.1\r\nHost: api\r\nAccept: */*\r\n\r\n";
constexpr std::string_view kPostLength =
    "POST /items HTTP/1.1\r\nHost: api\r\nContent-Length: 11\r\n\r\nhello world";
constexpr std::string_view kChunkedBody =
    "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n";
constexpr std::string_view kClose =
    "DELETE /items/1 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n";

std::string PipelinedInput() {
  return std::string(kGet) + std::string(kPostLength) +
         "PUT /items/2 HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n" +
         std::string(kChunkedBody) + std::string(kClose);
}

TEST(RequestReader, SingleGetYieldsHeadAndEnd) {
  RequestReader reader;
  const Transcript t = FeedInPieces(reader, kGet, kGet.size());
  ASSERT_FALSE(t.failed) << t.error.reason;
  ASSERT_EQ(t.messages.size(), 1u);
  const MessageHead& head = t.messages[0].head;
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/api/values?x=1");
  EXPECT_EQ(head.version_minor, 1);
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers[0].name, "Host");
  EXPECT_EQ(head.headers[1].value, "*/*");
  EXPECT_EQ(head.framing, BodyFraming::kNone);
  EXPECT_TRUE(t.messages[0].ended);
  EXPECT_TRUE(t.messages[0].keep_alive);
  EXPECT_EQ(reader.state(), ReaderState::kReading);
}

// The same four pipelined requests must come out identically whatever the feed boundaries are,
// byte by byte included.
TEST(RequestReader, PipelinedRequestsSplitCorrectlyAtEveryFeedSize) {
  const std::string input = PipelinedInput();
  for (std::size_t step = 1; step <= input.size(); ++step) {
    RequestReader reader;
    const Transcript t = FeedInPieces(reader, input, step);
    SCOPED_TRACE("feed size " + std::to_string(step));
    ASSERT_FALSE(t.failed) << t.error.reason;
    ASSERT_EQ(t.messages.size(), 4u);
    EXPECT_EQ(t.messages[0].head.method, "GET");
    EXPECT_EQ(t.messages[1].payload, "hello world");
    EXPECT_EQ(t.messages[1].head.content_length, 11u);
    EXPECT_EQ(t.messages[2].head.framing, BodyFraming::kChunked);
    EXPECT_EQ(t.messages[2].payload, "hello world");
    // Forwarded verbatim: chunk extensions and trailers survive.
    EXPECT_EQ(t.messages[2].raw, kChunkedBody);
    EXPECT_EQ(t.messages[3].head.method, "DELETE");
    for (const auto& m : t.messages) EXPECT_TRUE(m.ended);
    EXPECT_TRUE(t.messages[2].keep_alive);
    EXPECT_FALSE(t.messages[3].keep_alive);
    EXPECT_EQ(t.consumed, input.size());
    EXPECT_EQ(reader.state(), ReaderState::kClosed);
  }
}

TEST(RequestReader, HeadIsReportedBeforeTheBodyArrives) {
  RequestReader reader;
  const std::string head = "POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: 4\r\n\r\n";
  FeedResult r = reader.Feed(head);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, HttpEvent::Kind::kHead);
  r = reader.Feed("ab");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, HttpEvent::Kind::kBody);
  EXPECT_EQ(r.events[0].raw, "ab");
  r = reader.Feed("cd");
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[1].kind, HttpEvent::Kind::kEnd);
}

TEST(RequestReader, ExpectContinueIsFlaggedAndTheBodyFollowsLater) {
  RequestReader reader;
  const std::string head =
      "PUT /big HTTP/1.1\r\nHost: api\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  Transcript t;
  t.Add(reader.Feed(head));
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_TRUE(t.messages[0].head.expect_continue);
  EXPECT_FALSE(t.messages[0].ended);  // the relay answers 100 (or 403) before the body comes
  t.Add(reader.Feed("xyz"));
  EXPECT_TRUE(t.messages[0].ended);
  EXPECT_EQ(t.messages[0].payload, "xyz");
}

TEST(RequestReader, WebSocketUpgradeStopsBeforeTheStreamBytes) {
  const std::string head =
      "GET /chat HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const std::string frame = "\x81\x05hello";
  RequestReader reader;
  const std::string input = head + frame;  // body events would point into it
  const FeedResult r = reader.Feed(input);
  Transcript t;
  t.Add(r);
  ASSERT_FALSE(t.failed) << t.error.reason;
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_TRUE(t.messages[0].head.upgrade);
  EXPECT_TRUE(t.messages[0].upgrade);
  EXPECT_EQ(r.consumed, head.size());  // the frame is left for the stream relay
  EXPECT_EQ(reader.state(), ReaderState::kUpgradePending);
}

TEST(RequestReader, RefusedUpgradeContinuesAsHttp) {
  RequestReader reader;
  const std::string head =
      "GET /chat HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  (void)reader.Feed(head);
  ASSERT_EQ(reader.state(), ReaderState::kUpgradePending);
  reader.ResumeAfterRefusedUpgrade();
  Transcript t;
  t.Add(reader.Feed(kGet));
  ASSERT_FALSE(t.failed) << t.error.reason;
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.target, "/api/values?x=1");
}

TEST(RequestReader, ConnectIsAnUpgrade) {
  RequestReader reader;
  Transcript t;
  t.Add(reader.Feed("CONNECT 198.18.0.5:8080 HTTP/1.1\r\nHost: 198.18.0.5:8080\r\n\r\n"));
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.method, "CONNECT");
  EXPECT_TRUE(t.messages[0].upgrade);
  EXPECT_EQ(reader.state(), ReaderState::kUpgradePending);
}

TEST(RequestReader, Http10WithoutKeepAliveEndsTheConnection) {
  RequestReader reader;
  const std::string input = "GET / HTTP/1.0\r\n\r\n" + std::string(kGet);
  const FeedResult r = reader.Feed(input);
  Transcript t;
  t.Add(r);
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_FALSE(t.messages[0].keep_alive);
  EXPECT_EQ(reader.state(), ReaderState::kClosed);
  EXPECT_EQ(r.consumed, input.size() - kGet.size());
}

TEST(RequestReader, EofInsideABodyIsATruncation) {
  RequestReader reader;
  (void)reader.Feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
  const FeedResult r = reader.FeedEof();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].error.kind, HttpErrorKind::kTruncated);
  RequestReader idle;
  EXPECT_TRUE(idle.FeedEof().events.empty());
  EXPECT_EQ(idle.state(), ReaderState::kClosed);
}

struct StrictCase {
  const char* name;
  std::string request;
  HttpErrorKind kind;
  int status;
  const char* reason;  // substring of the error's reason
};

std::vector<StrictCase> StrictCases() {
  const std::string h = "POST / HTTP/1.1\r\nHost: api\r\n";
  return {
      {"cl_and_te", h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       HttpErrorKind::kMalformed, 400, "both Content-Length and Transfer-Encoding"},
      {"te_then_cl", h + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
       HttpErrorKind::kMalformed, 400, "both Content-Length and Transfer-Encoding"},
      {"duplicate_cl", h + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
       HttpErrorKind::kMalformed, 400, "duplicate Content-Length"},
      {"differing_cl", h + "Content-Length: 5\r\ncontent-length: 6\r\n\r\nhello!",
       HttpErrorKind::kMalformed, 400, "conflicting Content-Length"},
      {"te_gzip_chunked", h + "Transfer-Encoding: gzip, chunked\r\n\r\n", HttpErrorKind::kMalformed,
       400, "Transfer-Encoding other than chunked"},
      {"te_identity", h + "Transfer-Encoding: identity\r\n\r\n", HttpErrorKind::kMalformed, 400,
       "Transfer-Encoding other than chunked"},
      {"te_twice", h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       HttpErrorKind::kMalformed, 400, "Transfer-Encoding other than chunked"},
      {"obs_fold", h + "X-Long: first\r\n  second\r\n\r\n", HttpErrorKind::kMalformed, 400,
       "obs-fold"},
      {"obs_fold_tab", h + "X-Long: first\r\n\tsecond\r\n\r\n", HttpErrorKind::kMalformed, 400,
       "obs-fold"},
      {"bare_lf_header", h + "X-A: 1\n\r\n", HttpErrorKind::kMalformed, 400, "bare LF"},
      {"bare_lf_request_line", "GET / HTTP/1.1\nHost: api\r\n\r\n", HttpErrorKind::kMalformed, 400,
       "bare LF"},
      {"bare_lf_end", h + "X-A: 1\r\n\n", HttpErrorKind::kMalformed, 400, "bare LF"},
      {"nul_in_value", h + std::string("X-A: a\0b\r\n\r\n", 12), HttpErrorKind::kMalformed, 400,
       "NUL"},
      {"cr_in_value", h + "X-A: a\rb\r\n\r\n", HttpErrorKind::kMalformed, 400,
       "CR not followed by LF"},
      {"missing_host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", HttpErrorKind::kMalformed, 400,
       "missing Host"},
      {"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HttpErrorKind::kMalformed, 400,
       "multiple Host"},
      {"bad_cl_value", h + "Content-Length: 12abc\r\n\r\n", HttpErrorKind::kMalformed, 400,
       "content-length"},
      {"bad_chunk_size", h + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", HttpErrorKind::kMalformed,
       400, "chunk size"},
      {"garbage", "HELLO WORLD\r\n\r\n", HttpErrorKind::kMalformed, 400, "invalid HTTP method"},
      {"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HttpErrorKind::kHttp2, 400, "HTTP/2"},
      {"h2c_upgrade",
       "GET / HTTP/1.1\r\nHost: api\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
       "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
       HttpErrorKind::kHttp2, 400, "h2c"},
      {"too_many_headers",
       [&] {
         std::string r = h;
         for (int i = 0; i < 101; ++i) r += "X-H" + std::to_string(i) + ": v\r\n";
         return r + "\r\n";
       }(),
       HttpErrorKind::kTooLarge, 431, "header fields"},
      {"head_too_large", h + "X-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n",
       HttpErrorKind::kTooLarge, 431, "larger than"},
  };
}

class StrictRules : public ::testing::TestWithParam<StrictCase> {};

// Every rule fires whole and fed byte by byte, also when the offending request follows a good
// one on the same connection (the good one still comes out), and the reader then refuses more.
TEST_P(StrictRules, RejectsWithReasonAndCloses) {
  const StrictCase& c = GetParam();
  for (std::size_t step : {c.request.size() + kGet.size(), std::size_t{1}, std::size_t{7}}) {
    RequestReader reader;
    const Transcript t = FeedInPieces(reader, std::string(kGet) + c.request, step);
    SCOPED_TRACE("feed size " + std::to_string(step));
    ASSERT_TRUE(t.failed);
    EXPECT_EQ(t.error.kind, c.kind);
    EXPECT_EQ(t.error.status, c.status);
    EXPECT_NE(t.error.reason.find(c.reason), std::string::npos) << t.error.reason;
    ASSERT_GE(t.messages.size(), 1u);
    EXPECT_TRUE(t.messages[0].ended);
    EXPECT_EQ(reader.state(), ReaderState::kFailed);
    EXPECT_EQ(reader.Feed(kGet).consumed, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, StrictRules, ::testing::ValuesIn(StrictCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SniffProtocol, RecognisesHttp1Http2AndOthers) {
  EXPECT_EQ(SniffProtocol("GET /api/values HTTP/1.1\r\nHost: x\r\n"), ProtocolGuess::kHttp1);
  EXPECT_EQ(SniffProtocol("GET /api/val"), ProtocolGuess::kNeedMore);
  EXPECT_EQ(SniffProtocol("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), ProtocolGuess::kHttp2);
  EXPECT_EQ(SniffProtocol("PRI * HT"), ProtocolGuess::kNeedMore);
  EXPECT_EQ(SniffProtocol("\x16\x03\x01\x02\x00"), ProtocolGuess::kOther);  // TLS ClientHello
  EXPECT_EQ(SniffProtocol("SSH-2.0-OpenSSH_9.2\r\n"), ProtocolGuess::kOther);
  EXPECT_EQ(SniffProtocol("GET / HTTP/2.0\r\n"), ProtocolGuess::kOther);
}

}  // namespace
}  // namespace ferry::http
