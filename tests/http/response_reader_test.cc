// ResponseReader: where each upstream response ends, including bodies that depend on the request
// (HEAD, CONNECT), bodiless statuses, interim 1xx, read-until-close and upgrades.
#include "agent/http/response_reader.h"

#include <gtest/gtest.h>

#include "http_transcript.h"

namespace ferry::http {
namespace {

using http_test::FeedInPieces;
using http_test::Transcript;

TEST(ResponseReader, PipelinedResponsesEndWhereTheirRequestsSayAtEveryFeedSize) {
  // GET (length body), HEAD (Content-Length but no body), GET 204, GET 304 with a length,
  // GET chunked, then a GET answered with a body that runs until close.
  const std::string input =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "HTTP/1.1 200 OK\r\n\r\nuntil close";
  for (std::size_t step = 1; step <= input.size(); ++step) {
    SCOPED_TRACE("feed size " + std::to_string(step));
    ResponseReader reader;
    for (const char* m : {"GET", "HEAD", "GET", "GET", "GET", "GET"}) reader.ExpectResponseTo(m);
    Transcript t = FeedInPieces(reader, input, step);
    ASSERT_FALSE(t.failed) << t.error.reason;
    ASSERT_EQ(t.messages.size(), 6u);
    EXPECT_EQ(t.messages[0].payload, "hello");
    EXPECT_EQ(t.messages[1].head.framing, BodyFraming::kNone);
    EXPECT_TRUE(t.messages[1].ended);
    EXPECT_TRUE(t.messages[1].keep_alive);
    EXPECT_EQ(t.messages[2].head.status, 204);
    EXPECT_TRUE(t.messages[3].ended);
    EXPECT_EQ(t.messages[4].payload, "abc");
    EXPECT_EQ(t.messages[5].head.framing, BodyFraming::kUntilClose);
    EXPECT_FALSE(t.messages[5].head.keep_alive);
    EXPECT_FALSE(t.messages[5].ended);
    t.Add(reader.FeedEof());
    EXPECT_TRUE(t.messages[5].ended);
    EXPECT_EQ(t.messages[5].payload, "until close");
    EXPECT_FALSE(t.messages[5].keep_alive);
    EXPECT_EQ(reader.state(), ReaderState::kClosed);
  }
}

TEST(ResponseReader, InterimContinueDoesNotAnswerTheRequest) {
  ResponseReader reader;
  reader.ExpectResponseTo("PUT");
  reader.ExpectResponseTo("HEAD");
  Transcript t;
  t.Add(
      reader.Feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
                  "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"));
  ASSERT_FALSE(t.failed) << t.error.reason;
  ASSERT_EQ(t.messages.size(), 3u);
  EXPECT_TRUE(t.messages[0].head.informational());
  EXPECT_EQ(t.messages[1].payload, "ok");
  // The third answers HEAD: no body although it announces 9 bytes.
  EXPECT_TRUE(t.messages[2].ended);
  EXPECT_EQ(reader.state(), ReaderState::kReading);
}

TEST(ResponseReader, ConnectionCloseEndsReading) {
  ResponseReader reader;
  reader.ExpectResponseTo("GET");
  const std::string first =
      "HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 6\r\n\r\ndenied";
  const std::string input = first + "HTTP/1.1 200 OK\r\n\r\n";  // outlives the events
  const FeedResult r = reader.Feed(input);
  Transcript t;
  t.Add(r);
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_FALSE(t.messages[0].head.keep_alive);
  EXPECT_FALSE(t.messages[0].keep_alive);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(reader.state(), ReaderState::kClosed);
}

TEST(ResponseReader, SwitchingProtocolsStopsBeforeTheStream) {
  ResponseReader reader;
  reader.ExpectResponseTo("GET");
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  const std::string input = head + "\x81\x02hi";
  const FeedResult r = reader.Feed(input);
  Transcript t;
  t.Add(r);
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_TRUE(t.messages[0].upgrade);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(reader.state(), ReaderState::kUpgradePending);
}

TEST(ResponseReader, ConnectAnsweredWith200BecomesATunnel) {
  ResponseReader reader;
  reader.ExpectResponseTo("CONNECT");
  const std::string head = "HTTP/1.1 200 Connection established\r\n\r\n";
  const std::string input = head + "tunnel bytes";
  const FeedResult r = reader.Feed(input);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(reader.state(), ReaderState::kUpgradePending);
}

TEST(ResponseReader, AmbiguousFramingIsABadGateway) {
  ResponseReader reader;
  reader.ExpectResponseTo("GET");
  Transcript t;
  t.Add(reader.Feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"));
  ASSERT_TRUE(t.failed);
  EXPECT_EQ(t.error.status, 502);
  EXPECT_NE(t.error.reason.find("both Content-Length"), std::string::npos);
}

TEST(ResponseReader, EofInsideALengthBodyIsATruncation) {
  ResponseReader reader;
  reader.ExpectResponseTo("GET");
  (void)reader.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  const FeedResult r = reader.FeedEof();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, HttpEvent::Kind::kError);
  EXPECT_EQ(r.events[0].error.kind, HttpErrorKind::kTruncated);
  EXPECT_EQ(r.events[0].error.status, 502);
}

}  // namespace
}  // namespace ferry::http
