// HTTP/1.1 messages of the sample apps, read through libhttp-parser from scripted byte chunks.
#include <gtest/gtest.h>

#include <cerrno>
#include <deque>

#include "examples/apps/http_server.h"
#include "examples/apps/http_wire.h"
#include "test_result.h"

namespace ferry::example {
namespace {

// Hands out the chunks one per receive, then reports the peer closing (or `end_error`).
class ScriptedPeer {
 public:
  explicit ScriptedPeer(std::deque<std::string> chunks, int end_error = 0)
      : chunks_(std::move(chunks)), end_error_(end_error) {}

  HttpReader::ReceiveFn Fn() {
    return [this](char* buffer, size_t capacity) -> Result<size_t> {
      if (chunks_.empty()) {
        if (end_error_) return MakeError("recv", end_error_);
        return size_t{0};
      }
      std::string& front = chunks_.front();
      size_t n = std::min(capacity, front.size());
      front.copy(buffer, n);
      front.erase(0, n);
      if (front.empty()) chunks_.pop_front();
      return n;
    };
  }

 private:
  std::deque<std::string> chunks_;
  int end_error_;
};

TEST(ExampleHttpWire, KeepAliveRequestsOneAfterAnotherEvenSplitAcrossReads) {
  ScriptedPeer peer({"GET /api/values HTTP/1.1\r\nHo", "st: api\r\nX-Trace: a\r\n\r\nPOST /api/values?x=1 HTTP/1.1\r\n",
                     "Host: api\r\nContent-Length: 5\r\n\r\nhel", "lo"});
  HttpReader reader(MessageKind::kRequest);
  auto first = reader.Read(peer.Fn());
  ASSERT_OK(first);
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->method, "GET");
  EXPECT_EQ((*first)->target, "/api/values");
  EXPECT_EQ((*first)->Header("host"), "api");
  EXPECT_EQ((*first)->Header("x-trace"), "a");
  EXPECT_TRUE((*first)->keep_alive);

  auto second = reader.Read(peer.Fn());
  ASSERT_OK(second);
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((*second)->method, "POST");
  EXPECT_EQ((*second)->Path(), "/api/values");
  EXPECT_EQ((*second)->body, "hello");

  auto end = reader.Read(peer.Fn());
  ASSERT_OK(end);
  EXPECT_FALSE(end->has_value()) << "a clean close between requests is not an error";
}

TEST(ExampleHttpWire, PipelinedRequestsInOneReadAreKeptApart) {
  ScriptedPeer peer({"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"});
  HttpReader reader(MessageKind::kRequest);
  auto a = reader.Read(peer.Fn());
  ASSERT_OK(a);
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->target, "/a");
  auto b = reader.Read(peer.Fn());
  ASSERT_OK(b);
  ASSERT_TRUE(b->has_value());
  EXPECT_EQ((*b)->target, "/b");
  EXPECT_FALSE((*b)->keep_alive);
}

TEST(ExampleHttpWire, Http10RequestClosesTheConnection) {
  ScriptedPeer peer({"GET /api/values HTTP/1.0\r\nHost: api\r\n\r\n"});
  HttpReader reader(MessageKind::kRequest);
  auto r = reader.Read(peer.Fn());
  ASSERT_OK(r);
  ASSERT_TRUE(r->has_value());
  EXPECT_FALSE((*r)->keep_alive);
}

TEST(ExampleHttpWire, ChunkedResponseAndHeadersOfA403) {
  ScriptedPeer peer({"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\nX-Served-By: ferry\r\n\r\n",
                     "6\r\ndenied\r\n0\r\n\r\n"});
  HttpReader reader(MessageKind::kResponse);
  auto r = reader.Read(peer.Fn());
  ASSERT_OK(r);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->status, 403);
  EXPECT_EQ((*r)->body, "denied");
  EXPECT_EQ((*r)->Header("x-served-by"), "ferry");
  EXPECT_TRUE((*r)->keep_alive);
}

TEST(ExampleHttpWire, ResponseBodyRunningToTheEndOfTheConnection) {
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\n\r\nall of", " it"});
  HttpReader reader(MessageKind::kResponse);
  auto r = reader.Read(peer.Fn());
  ASSERT_OK(r);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->body, "all of it");
  EXPECT_FALSE((*r)->keep_alive);
}

TEST(ExampleHttpWire, ResponseToHeadHasNoBodyDespiteItsLength) {
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 31\r\n\r\n"});
  HttpReader reader(MessageKind::kResponse);
  auto r = reader.Read(peer.Fn(), /*response_to_head=*/true);
  ASSERT_OK(r);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->body, "");
}

TEST(ExampleHttpWire, BrokenMessagesAreErrorsNotMessages) {
  {
    ScriptedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"});
    HttpReader reader(MessageKind::kResponse);
    EXPECT_ERR(reader.Read(peer.Fn()));  // closed mid-body
  }
  {
    ScriptedPeer peer({"NOT HTTP AT ALL\r\n\r\n"});
    HttpReader reader(MessageKind::kRequest);
    auto r = reader.Read(peer.Fn());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EPROTO);  // the server answers these with 400
  }
  {
    ScriptedPeer peer({"POST / HTTP/1.1\r\nContent-Length: " + std::to_string(HttpReader::kMaxBodyBytes + 1) +
                       "\r\n\r\n" + std::string(HttpReader::kMaxBodyBytes + 1, 'x')});
    HttpReader reader(MessageKind::kRequest);
    EXPECT_ERR(reader.Read(peer.Fn()));
  }
}

TEST(ExampleHttpWire, ResetBeforeAnyByteMeansTheConnectionIsGone) {
  ScriptedPeer peer({}, ECONNRESET);
  HttpReader reader(MessageKind::kResponse);
  auto r = reader.Read(peer.Fn());
  ASSERT_OK(r);
  EXPECT_FALSE(r->has_value());
}

TEST(ExampleHttpWire, RenderedRepliesReadBackIdentically) {
  HttpMessage get;
  get.method = "GET";
  Reply reply{200, "application/json", R"(["Value 1"])", {{"x-served-by", "api-0"}}};
  ScriptedPeer peer({RenderReply(get, reply, /*keep_alive=*/true), RenderReply(get, reply, /*keep_alive=*/false)});
  HttpReader reader(MessageKind::kResponse);
  auto first = reader.Read(peer.Fn());
  ASSERT_OK(first);
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->status, 200);
  EXPECT_EQ((*first)->body, R"(["Value 1"])");
  EXPECT_EQ((*first)->Header("content-type"), "application/json");
  EXPECT_EQ((*first)->Header("x-served-by"), "api-0");
  EXPECT_TRUE((*first)->keep_alive);
  auto second = reader.Read(peer.Fn());
  ASSERT_OK(second);
  ASSERT_TRUE(second->has_value());
  EXPECT_FALSE((*second)->keep_alive);

  HttpMessage head;
  head.method = "HEAD";
  std::string head_bytes = RenderReply(head, reply, true);
  EXPECT_EQ(head_bytes.find("Value"), std::string::npos);
  EXPECT_NE(head_bytes.find("content-length: 11"), std::string::npos);
}

TEST(ExampleHttpWire, RequestsCarryHostAndALengthForPost) {
  ScriptedPeer peer({RenderRequest("POST", "/api/values", "api"), RenderRequest("GET", "/", "api:8080")});
  HttpReader reader(MessageKind::kRequest);
  auto post = reader.Read(peer.Fn());
  ASSERT_OK(post);
  ASSERT_TRUE(post->has_value());
  EXPECT_EQ((*post)->method, "POST");
  EXPECT_EQ((*post)->Header("host"), "api");
  EXPECT_EQ((*post)->Header("content-length"), "0");
  auto get = reader.Read(peer.Fn());
  ASSERT_OK(get);
  ASSERT_TRUE(get->has_value());
  EXPECT_EQ((*get)->Header("host"), "api:8080");
}

}  // namespace
}  // namespace ferry::example
