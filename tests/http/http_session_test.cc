// HttpSession: per-request policy on keep-alive and pipelined connections, what reaches the
// client and each upstream (verbatim bodies, normalised targets, hop-by-hop fix-ups), upgrades,
// local answers (403/400/405/502/503) and when the connection is kept, finished or reset.
// Transcripts are fed whole, byte by byte and in 7-byte pieces; the result must not depend on it.
#include "agent/http/http_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "agent/http/response_reader.h"
#include "http_transcript.h"

namespace ferry::http {
namespace {

using proxy::L7Actions;
using proxy::UpstreamEnd;
using End = L7Actions::End;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kWhole = std::numeric_limits<std::size_t>::max();

RequestVerdict Forward(std::string key) {
  RequestVerdict v;
  v.forward = true;
  v.upstream_key = std::move(key);
  return v;
}

RequestVerdict Refuse(int status, std::string reason) {
  RequestVerdict v;
  v.status = status;
  v.reason = std::move(reason);
  return v;
}

// Records every call and answers from a script: `decide` for requests, `stream` for streams.
class FakeRouter : public RequestRouter {
 public:
  struct Routed {
    std::string method;
    std::string path;
  };
  std::function<RequestVerdict(const MessageHead&, std::string_view)> decide =
      [](const MessageHead&, std::string_view) { return Forward("backend"); };
  RequestVerdict stream = Forward("tcp-backend");

  std::vector<Routed> routed;
  std::vector<ProtocolGuess> streams;
  std::vector<RequestRecord> records;

  RequestVerdict RouteRequest(const MessageHead& head, std::string_view path) override {
    routed.push_back(Routed{head.method, std::string(path)});
    return decide(head, path);
  }
  RequestVerdict RouteStream(ProtocolGuess guess) override {
    streams.push_back(guess);
    return stream;
  }
  void OnRequestDone(const RequestRecord& record) override { records.push_back(record); }
};

// Refuses paths under /admin and POSTs; forwards the rest to "backend".
RequestVerdict AdminAndPostRefused(const MessageHead& head, std::string_view path) {
  if (path.rfind("/admin", 0) == 0) return Refuse(403, "path " + std::string(path) + " denied");
  if (head.method == "POST") return Refuse(403, "method POST denied");
  return Forward("backend");
}

// What the session asked for over all calls: the client's bytes and each upstream's bytes.
struct Wire {
  std::string client;
  std::vector<proxy::UpstreamSegment> upstream;  // consecutive bytes for one key merged
  int retired = 0;                               // calls that retired the current upstream
  bool stream = false;
  End end = End::kNone;
  std::string reason;

  void Take(const L7Actions& a) {
    client += a.to_client;
    for (const auto& segment : a.to_upstream) {
      if (!upstream.empty() && upstream.back().key == segment.key) {
        upstream.back().bytes += segment.bytes;
      } else {
        upstream.push_back(segment);
      }
    }
    if (a.retire_upstream) ++retired;
    stream = stream || a.become_stream;
    if (a.end != End::kNone) {
      end = a.end;
      reason = a.reason;
    }
  }
  std::string To(std::string_view key) const {
    std::string out;
    for (const auto& segment : upstream) {
      if (segment.key == key) out += segment.bytes;
    }
    return out;
  }
  std::vector<std::string> Keys() const {
    std::vector<std::string> keys;
    for (const auto& segment : upstream) keys.push_back(segment.key);
    return keys;
  }
};

// Drives one session as the engine would, feeding bytes in pieces of `step` through a scratch
// buffer that is wiped after each call (a session must not keep views into it).
class Harness {
 public:
  explicit Harness(std::size_t step = kWhole, HttpSessionOptions options = {})
      : router(std::make_shared<FakeRouter>()), step_(step) {
    options.now = [clock = clock_] { return *clock; };
    session_ = std::make_unique<HttpSession>(router, std::move(options));
  }

  void Client(std::string_view bytes) {
    FeedInPieces(bytes, [&](std::string_view b, L7Actions& a) { session_->OnClientBytes(b, a); });
  }
  void Upstream(std::string_view bytes) {
    FeedInPieces(bytes, [&](std::string_view b, L7Actions& a) { session_->OnUpstreamBytes(b, a); });
  }
  void ClientEof() {
    Call([&](L7Actions& a) { session_->OnClientEof(a); });
  }
  void UpstreamEnds(UpstreamEnd end, std::string_view reason = "") {
    Call([&](L7Actions& a) { session_->OnUpstreamEnd(end, reason, a); });
  }
  void Advance(std::chrono::microseconds d) { *clock_ += d; }
  HttpSession& session() { return *session_; }

  std::shared_ptr<FakeRouter> router;
  Wire wire;

 private:
  template <typename Fn>
  void Call(Fn fn) {
    L7Actions actions;
    fn(actions);
    wire.Take(actions);
  }
  template <typename Fn>
  void FeedInPieces(std::string_view bytes, Fn fn) {
    std::string scratch;
    for (std::size_t pos = 0; pos < bytes.size() && !Over();) {
      scratch.assign(bytes.substr(pos, std::min(step_, bytes.size() - pos)));
      pos += scratch.size();
      Call([&](L7Actions& a) { fn(scratch, a); });
      std::fill(scratch.begin(), scratch.end(), '#');
    }
  }
  // The engine stops calling once the session finished or handed the connection over.
  bool Over() const { return wire.end != End::kNone || wire.stream; }

  std::shared_ptr<Clock::time_point> clock_ = std::make_shared<Clock::time_point>();
  std::size_t step_;
  std::unique_ptr<HttpSession> session_;
};

// The client's bytes read back as responses to requests with these methods.
http_test::Transcript ClientSees(const std::string& bytes,
                                 std::initializer_list<const char*> methods) {
  ResponseReader reader;
  for (const char* m : methods) reader.ExpectResponseTo(m);
  http_test::Transcript t;
  t.Add(reader.Feed(bytes));
  t.Add(reader.FeedEof());
  return t;
}

std::string FerryReason(const http_test::Message& m) {
  const Header* h = m.head.Find("x-ferry-reason");
  return h ? h->value : std::string("<none>");
}

std::string Get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: api\r\n" + std::string(extra) + "\r\n";
}

std::string Ok(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

class SessionAtEveryStep : public ::testing::TestWithParam<std::size_t> {};
INSTANTIATE_TEST_SUITE_P(Steps, SessionAtEveryStep, ::testing::Values(kWhole, 1, 7),
                         [](const auto& info) {
                           return info.param == kWhole ? std::string("whole")
                                                       : "by" + std::to_string(info.param);
                         });

TEST_P(SessionAtEveryStep, DeniedRequestIsAnsweredAndTheConnectionCarriesOn) {
  Harness h(GetParam());
  h.router->decide = AdminAndPostRefused;
  h.Client(Get("/api/values"));
  EXPECT_EQ(h.wire.To("backend"), Get("/api/values"));
  EXPECT_TRUE(h.session().WantsUpstreamBytes());
  h.Upstream(Ok("hello"));
  EXPECT_FALSE(h.session().WantsUpstreamBytes());

  h.Client(Get("/admin"));
  EXPECT_EQ(h.wire.To("backend"), Get("/api/values"));  // nothing new upstream
  h.Client(Get("/api/values?page=2"));
  h.Upstream(Ok("again"));

  const auto t = ClientSees(h.wire.client, {"GET", "GET", "GET"});
  ASSERT_FALSE(t.failed) << t.error.reason;
  ASSERT_EQ(t.messages.size(), 3u);
  EXPECT_EQ(t.messages[0].payload, "hello");
  EXPECT_EQ(t.messages[1].head.status, 403);
  EXPECT_EQ(FerryReason(t.messages[1]), "path /admin denied");
  EXPECT_EQ(t.messages[1].payload, "path /admin denied\n");
  EXPECT_TRUE(t.messages[1].keep_alive);
  EXPECT_EQ(t.messages[2].payload, "again");
  EXPECT_EQ(h.wire.To("backend"), Get("/api/values") + Get("/api/values?page=2"));
  EXPECT_EQ(h.wire.end, End::kNone);
  EXPECT_EQ(h.wire.retired, 0);
  EXPECT_TRUE(h.session().WantsClientBytes());
}

TEST_P(SessionAtEveryStep, RefusedPostBodyIsDroppedAndTheNextGetForwarded) {
  Harness h(GetParam());
  h.router->decide = AdminAndPostRefused;
  h.Client("POST /items HTTP/1.1\r\nHost: api\r\nContent-Length: 11\r\n\r\nhello world" +
           Get("/items"));
  EXPECT_EQ(h.wire.To("backend"), Get("/items"));
  h.Upstream(Ok("[]"));
  const auto t = ClientSees(h.wire.client, {"POST", "GET"});
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[0].head.status, 403);
  EXPECT_EQ(FerryReason(t.messages[0]), "method POST denied");
  EXPECT_EQ(t.messages[1].head.status, 200);
  ASSERT_EQ(h.router->records.size(), 2u);
  EXPECT_EQ(h.router->records[0].request_body_bytes, 11u);
  EXPECT_TRUE(h.router->records[0].local_response);
}

TEST_P(SessionAtEveryStep, PipelinedRequestsAreAnsweredInOrderAroundARefusal) {
  Harness h(GetParam());
  h.router->decide = AdminAndPostRefused;
  h.Client(Get("/a") + Get("/admin/users") + Get("/c"));
  // One exchange at a time: the later requests are held, not yet routed.
  EXPECT_EQ(h.wire.To("backend"), Get("/a"));
  ASSERT_EQ(h.router->routed.size(), 1u);
  EXPECT_TRUE(h.wire.client.empty());

  h.Upstream(Ok("A"));
  // The refusal is answered locally and /c is forwarded at once.
  EXPECT_EQ(h.wire.To("backend"), Get("/a") + Get("/c"));
  h.Upstream(Ok("C"));

  const auto t = ClientSees(h.wire.client, {"GET", "GET", "GET"});
  ASSERT_EQ(t.messages.size(), 3u);
  EXPECT_EQ(t.messages[0].payload, "A");
  EXPECT_EQ(t.messages[1].head.status, 403);
  EXPECT_EQ(t.messages[2].payload, "C");
  ASSERT_EQ(h.router->routed.size(), 3u);
  EXPECT_EQ(h.router->routed[1].path, "/admin/users");
  EXPECT_EQ(h.wire.end, End::kNone);
}

TEST_P(SessionAtEveryStep, RequestsOfOneConnectionFollowTheSplitToTwoUpstreams) {
  Harness h(GetParam());
  int n = 0;
  h.router->decide = [&n](const MessageHead&, std::string_view) {
    return Forward(n++ % 2 == 0 ? "v1" : "v2");
  };
  for (int i = 0; i < 4; ++i) {
    h.Client(Get("/api/" + std::to_string(i)));
    h.Upstream(Ok("r" + std::to_string(i)));
  }
  EXPECT_EQ(h.wire.Keys(), (std::vector<std::string>{"v1", "v2", "v1", "v2"}));
  EXPECT_EQ(h.wire.To("v1"), Get("/api/0") + Get("/api/2"));
  EXPECT_EQ(h.wire.To("v2"), Get("/api/1") + Get("/api/3"));
  EXPECT_EQ(h.wire.retired, 0);  // keep-alive upstreams stay pooled
  const auto t = ClientSees(h.wire.client, {"GET", "GET", "GET", "GET"});
  ASSERT_EQ(t.messages.size(), 4u);
  EXPECT_EQ(t.messages[3].payload, "r3");
  ASSERT_EQ(h.router->records.size(), 4u);
  EXPECT_EQ(h.router->records[1].upstream_key, "v2");
}

TEST_P(SessionAtEveryStep, UpstreamCloseRetiresItButTheClientStaysConnected) {
  Harness h(GetParam());
  h.Client(Get("/a"));
  h.Upstream(Ok("bye", "Connection: close\r\nKeep-Alive: timeout=5\r\n"));
  EXPECT_EQ(h.wire.retired, 1);
  EXPECT_EQ(h.wire.end, End::kNone);
  const auto t = ClientSees(h.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_TRUE(t.messages[0].keep_alive);  // the client's connection is not the upstream's
  EXPECT_EQ(t.messages[0].head.Find("connection"), nullptr);
  EXPECT_EQ(t.messages[0].head.Find("keep-alive"), nullptr);
  h.Client(Get("/b"));
  EXPECT_EQ(h.wire.To("backend"), Get("/a") + Get("/b"));
}

TEST_P(SessionAtEveryStep, ChunkedBodiesPassVerbatimBothWays) {
  Harness h(GetParam());
  const std::string request_body = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n";
  const std::string request =
      "PUT /items/1 HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n" + request_body;
  h.Client(request);
  EXPECT_EQ(h.wire.To("backend"), request);
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 2\r\n\r\n";
  h.Upstream(response);
  EXPECT_EQ(h.wire.client, response);
  ASSERT_EQ(h.router->records.size(), 1u);
  EXPECT_EQ(h.router->records[0].request_body_bytes, 11u);
  EXPECT_EQ(h.router->records[0].response_body_bytes, 3u);
}

TEST_P(SessionAtEveryStep, ExpectContinueAllowedPassesTheInterimAnswerThenTheBody) {
  Harness h(GetParam());
  const std::string head =
      "PUT /big HTTP/1.1\r\nHost: api\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  h.Client(head);
  EXPECT_EQ(h.wire.To("backend"), head);
  h.Upstream("HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(h.wire.client, "HTTP/1.1 100 Continue\r\n\r\n");
  h.Client("12345");
  EXPECT_EQ(h.wire.To("backend"), head + "12345");
  h.Upstream("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  const auto t = ClientSees(h.wire.client, {"PUT"});
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[1].head.status, 201);
  EXPECT_EQ(h.wire.end, End::kNone);
}

TEST_P(SessionAtEveryStep, ExpectContinueRefusedClosesBeforeTheBodyComes) {
  Harness h(GetParam());
  h.router->decide = AdminAndPostRefused;
  h.Client("POST /big HTTP/1.1\r\nHost: api\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_TRUE(h.wire.upstream.empty());
  EXPECT_EQ(h.wire.end, End::kFinish);
  const auto t = ClientSees(h.wire.client, {"POST"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 403);
  EXPECT_FALSE(t.messages[0].keep_alive);
}

TEST(HttpSession, ExpectContinueRefusedWithItsBodyAlreadySentKeepsTheConnection) {
  Harness h;
  h.router->decide = AdminAndPostRefused;
  h.Client("POST /x HTTP/1.1\r\nHost: api\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(h.wire.end, End::kNone);
  const auto t = ClientSees(h.wire.client, {"POST"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_TRUE(t.messages[0].keep_alive);
}

const std::string kUpgrade =
    "GET /chat HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

TEST_P(SessionAtEveryStep, AcceptedWebSocketBecomesAStreamWithLeftoversBothWays) {
  Harness h(GetParam());
  const std::string client_frame = "\x81\x05hello";
  h.Client(kUpgrade + client_frame);
  EXPECT_EQ(h.wire.To("backend"), kUpgrade);  // the frame waits for the answer
  const std::string switching =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  const std::string server_frame = "\x81\x02hi";
  h.Upstream(switching + server_frame);
  ASSERT_TRUE(h.wire.stream);
  // The 101 and whatever came with it reach the client; the engine relays later reads.
  EXPECT_EQ(h.wire.client.substr(0, switching.size()), switching);
  EXPECT_EQ((switching + server_frame).substr(0, h.wire.client.size()), h.wire.client);
  if (GetParam() == kWhole) {
    EXPECT_EQ(h.wire.client, switching + server_frame);
  }
  EXPECT_EQ(h.wire.To("backend"), kUpgrade + client_frame);
  EXPECT_EQ(h.wire.end, End::kNone);
  ASSERT_EQ(h.router->records.size(), 1u);
  EXPECT_EQ(h.router->records[0].status, 101);
}

TEST_P(SessionAtEveryStep, WebSocketRefusedByTheUpstreamContinuesAsHttp) {
  Harness h(GetParam());
  h.Client(kUpgrade + Get("/after"));
  EXPECT_EQ(h.wire.To("backend"), kUpgrade);
  h.Upstream("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno");
  EXPECT_FALSE(h.wire.stream);
  EXPECT_EQ(h.wire.To("backend"), kUpgrade + Get("/after"));
  h.Upstream(Ok("after"));
  const auto t = ClientSees(h.wire.client, {"GET", "GET"});
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[0].head.status, 400);
  EXPECT_EQ(t.messages[1].payload, "after");
  EXPECT_EQ(h.wire.end, End::kNone);
}

TEST(HttpSession, WebSocketRefusedByPolicyContinuesAsHttp) {
  Harness h;
  h.router->decide = [](const MessageHead& head, std::string_view) {
    return head.upgrade ? Refuse(403, "no websockets") : Forward("backend");
  };
  h.Client(kUpgrade + Get("/after"));
  EXPECT_EQ(h.wire.To("backend"), Get("/after"));
  h.Upstream(Ok("x"));
  const auto t = ClientSees(h.wire.client, {"GET", "GET"});
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[0].head.status, 403);
  EXPECT_EQ(t.messages[1].head.status, 200);
}

TEST(HttpSession, SwitchingProtocolsToAPlainRequestIsABadGateway) {
  Harness h;
  h.Client(Get("/a"));
  h.Upstream("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_FALSE(h.wire.stream);
  EXPECT_EQ(h.wire.end, End::kFinish);
  const auto t = ClientSees(h.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 502);
}

TEST(HttpSession, ConnectIsRefusedWith405) {
  Harness h;
  h.Client("CONNECT 198.18.0.5:443 HTTP/1.1\r\nHost: 198.18.0.5:443\r\n\r\n");
  EXPECT_TRUE(h.wire.upstream.empty());
  EXPECT_TRUE(h.router->routed.empty());
  const auto t = ClientSees(h.wire.client, {"CONNECT"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 405);
}

struct BadRequest {
  const char* name;
  std::string request;
  const char* reason;
};

class BadRequests : public ::testing::TestWithParam<BadRequest> {};

// Each is answered 400 with the reason and the connection finished, also behind an outstanding
// response: that response reaches the client first.
TEST_P(BadRequests, AreAnswered400AfterTheOutstandingResponse) {
  for (std::size_t step : {kWhole, std::size_t{1}}) {
    SCOPED_TRACE("step " + std::to_string(step));
    Harness h(step);
    h.Client(Get("/first") + GetParam().request);
    EXPECT_EQ(h.wire.To("backend"), Get("/first"));
    EXPECT_TRUE(h.wire.client.empty());
    EXPECT_EQ(h.wire.end, End::kNone);
    h.Upstream(Ok("first"));
    EXPECT_EQ(h.wire.end, End::kFinish);
    EXPECT_EQ(h.wire.To("backend"), Get("/first"));
    const auto t = ClientSees(h.wire.client, {"GET", "POST"});
    ASSERT_EQ(t.messages.size(), 2u);
    EXPECT_EQ(t.messages[0].payload, "first");
    EXPECT_EQ(t.messages[1].head.status, 400);
    EXPECT_NE(FerryReason(t.messages[1]).find(GetParam().reason), std::string::npos)
        << FerryReason(t.messages[1]);
    EXPECT_FALSE(t.messages[1].keep_alive);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Framing, BadRequests,
    ::testing::Values(
        BadRequest{"cl_and_te",
                   "POST / HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   "both Content-Length and Transfer-Encoding"},
        BadRequest{"duplicate_cl",
                   "POST / HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
                   "hello",
                   "duplicate Content-Length"},
        BadRequest{"obs_fold", "POST / HTTP/1.1\r\nHost: api\r\nX-A: a\r\n b\r\n\r\n", "obs-fold"},
        BadRequest{"h2c_upgrade",
                   "GET / HTTP/1.1\r\nHost: api\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                   "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
                   "h2c"},
        BadRequest{"dot_segments_above_root", "GET /a/../../etc HTTP/1.1\r\nHost: api\r\n\r\n",
                   ""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_P(SessionAtEveryStep, NormalisedPathIsWhatIsMatchedAndForwarded) {
  Harness h(GetParam());
  h.router->decide = AdminAndPostRefused;
  h.Client(Get("/api/../admin"));
  ASSERT_EQ(h.router->routed.size(), 1u);
  EXPECT_EQ(h.router->routed[0].path, "/admin");
  EXPECT_TRUE(h.wire.upstream.empty());
  // Matched as /admin, so it must reach the backend as /admin, whatever the policy says.
  h.router->decide = [](const MessageHead&, std::string_view) { return Forward("backend"); };
  h.Client(Get("/api/%2e%2e/admin?x=1"));
  EXPECT_EQ(h.router->routed[1].path, "/admin");
  h.Upstream(Ok("admin"));
  h.Client(Get("/api/values/../admin"));  // RFC 3986: ".." removes "values"
  EXPECT_EQ(h.router->routed[2].path, "/api/admin");
  EXPECT_EQ(h.wire.To("backend"), Get("/admin?x=1") + Get("/api/admin"));
}

TEST(HttpSession, UpstreamResetBeforeTheResponseIs502AndTheConnectionIsKept) {
  Harness h;
  h.Client(Get("/a"));
  h.UpstreamEnds(UpstreamEnd::kReset, "connection reset by peer");
  EXPECT_EQ(h.wire.end, End::kNone);
  EXPECT_FALSE(h.session().WantsUpstreamBytes());
  h.Client(Get("/b"));
  EXPECT_EQ(h.wire.To("backend"), Get("/a") + Get("/b"));
  h.Upstream(Ok("b"));
  const auto t = ClientSees(h.wire.client, {"GET", "GET"});
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[0].head.status, 502);
  EXPECT_TRUE(t.messages[0].keep_alive);
  EXPECT_EQ(t.messages[1].payload, "b");
  ASSERT_EQ(h.router->records.size(), 2u);
  EXPECT_EQ(h.router->records[0].status, 502);
  EXPECT_TRUE(h.router->records[0].local_response);
}

TEST(HttpSession, UnavailableUpstreamIs503WithTheReason) {
  Harness h;
  h.Client(Get("/a"));
  h.UpstreamEnds(UpstreamEnd::kUnavailable, "no endpoint for backend");
  const auto t = ClientSees(h.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 503);
  EXPECT_EQ(t.messages[0].payload, "no endpoint for backend\n");
  EXPECT_EQ(h.wire.end, End::kNone);
}

TEST(HttpSession, UpstreamGoneWhileTheRequestBodyIsStillComingFinishes) {
  Harness h;
  h.Client("POST /up HTTP/1.1\r\nHost: api\r\nContent-Length: 10\r\n\r\nabc");
  h.UpstreamEnds(UpstreamEnd::kUnavailable, "no endpoint");
  EXPECT_EQ(h.wire.end, End::kFinish);
  const auto t = ClientSees(h.wire.client, {"POST"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 503);
  EXPECT_FALSE(t.messages[0].keep_alive);
}

TEST(HttpSession, UpstreamEofInsideAResponseResetsTheClient) {
  Harness h;
  h.Client(Get("/a"));
  h.Upstream("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
  h.UpstreamEnds(UpstreamEnd::kClosed);
  EXPECT_EQ(h.wire.end, End::kReset);  // a truncated response must not look complete
  ASSERT_EQ(h.router->records.size(), 1u);
  EXPECT_EQ(h.router->records[0].status, 200);
}

TEST(HttpSession, UpstreamEofEndsAReadUntilCloseBodyAndTheClientConnection) {
  Harness h;
  h.Client(Get("/stream"));
  h.Upstream("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it");
  EXPECT_EQ(h.wire.end, End::kNone);
  h.UpstreamEnds(UpstreamEnd::kClosed);
  EXPECT_EQ(h.wire.end, End::kFinish);
  const auto t = ClientSees(h.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].payload, "all of it");
  EXPECT_FALSE(t.messages[0].keep_alive);  // it says Connection: close
}

TEST(HttpSession, BadResponseBeforeAnyByteIs502AfterwardsAReset) {
  Harness before;
  before.Client(Get("/a"));
  before.Upstream(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(before.wire.end, End::kFinish);
  const auto t = ClientSees(before.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 502);

  Harness after;
  after.Client(Get("/a"));
  after.Upstream("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
  EXPECT_EQ(after.wire.end, End::kReset);
}

TEST_P(SessionAtEveryStep, NonHttpFirstBytesBecomeAStream) {
  Harness h(GetParam());
  const std::string hello = "SSH-2.0-OpenSSH_9.2\r\n";
  h.Client(hello);
  ASSERT_TRUE(h.wire.stream);
  EXPECT_EQ(h.router->streams, std::vector<ProtocolGuess>{ProtocolGuess::kOther});
  // Everything read before the decision goes first; the engine relays the rest.
  const std::string sent = h.wire.To("tcp-backend");
  EXPECT_FALSE(sent.empty());
  EXPECT_EQ(hello.substr(0, sent.size()), sent);
  EXPECT_TRUE(h.router->routed.empty());
}

TEST(HttpSession, Http2PrefaceIsRoutedAsAStreamWhenSniffing) {
  Harness h;
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  h.Client(preface);
  EXPECT_EQ(h.router->streams, std::vector<ProtocolGuess>{ProtocolGuess::kHttp2});
  EXPECT_TRUE(h.wire.stream);
  EXPECT_EQ(h.wire.To("tcp-backend"), preface);
}

TEST(HttpSession, RefusedStreamIsReset) {
  Harness h;
  h.router->stream = Refuse(403, "no TCP route");
  h.Client("\x16\x03\x01\x02\x00");
  EXPECT_EQ(h.wire.end, End::kReset);
  EXPECT_NE(h.wire.reason.find("no TCP route"), std::string::npos);
  EXPECT_TRUE(h.wire.upstream.empty());
}

TEST(HttpSession, DeclaredHttpPortAnswersHttp2AndGarbageWith400) {
  HttpSessionOptions options;
  options.sniff = false;
  Harness h2(kWhole, options);
  h2.Client("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  EXPECT_EQ(h2.wire.end, End::kFinish);
  EXPECT_TRUE(h2.router->streams.empty());
  auto t = ClientSees(h2.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 400);
  EXPECT_NE(FerryReason(t.messages[0]).find("HTTP/2"), std::string::npos);

  Harness tls(kWhole, options);
  tls.Client("\x16\x03\x01\x02\x00");
  EXPECT_EQ(tls.wire.end, End::kFinish);
  EXPECT_FALSE(tls.wire.stream);
  t = ClientSees(tls.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 400);
}

TEST(HttpSession, HeldPipelinedBytesStopReadingTheClientUntilTheirTurn) {
  HttpSessionOptions options;
  options.max_held_bytes = 100;
  Harness h(kWhole, options);
  h.Client(Get("/a"));
  EXPECT_TRUE(h.session().WantsClientBytes());
  const std::string body(300, 'x');
  const std::string post = "PUT /b HTTP/1.1\r\nHost: api\r\nContent-Length: 300\r\n\r\n" + body;
  h.Client(post);
  EXPECT_FALSE(h.session().WantsClientBytes());
  EXPECT_EQ(h.wire.To("backend"), Get("/a"));
  h.Upstream(Ok("a"));
  EXPECT_TRUE(h.session().WantsClientBytes());
  EXPECT_EQ(h.wire.To("backend"), Get("/a") + post);
}

TEST(HttpSession, RecordsDescribeEveryExchange) {
  Harness h;
  h.router->decide = AdminAndPostRefused;
  h.Client("PUT /api/./items?id=1 HTTP/1.1\r\nHost: api\r\nContent-Length: 4\r\n\r\nabcd");
  h.Advance(std::chrono::milliseconds(5));
  h.Upstream(Ok("done"));
  h.Client(Get("/admin"));
  ASSERT_EQ(h.router->records.size(), 2u);
  const RequestRecord& put = h.router->records[0];
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.path, "/api/items");
  EXPECT_EQ(put.upstream_key, "backend");
  EXPECT_EQ(put.status, 200);
  EXPECT_FALSE(put.local_response);
  EXPECT_EQ(put.request_body_bytes, 4u);
  EXPECT_EQ(put.response_body_bytes, 4u);
  EXPECT_EQ(put.duration, std::chrono::milliseconds(5));
  const RequestRecord& denied = h.router->records[1];
  EXPECT_EQ(denied.path, "/admin");
  EXPECT_EQ(denied.status, 403);
  EXPECT_TRUE(denied.local_response);
  EXPECT_TRUE(denied.upstream_key.empty());
}

TEST(HttpSession, ClientEofAfterACompleteRequestWaitsForItsResponse) {
  Harness h;
  h.Client(Get("/a") + Get("/b"));
  h.ClientEof();
  EXPECT_EQ(h.wire.end, End::kNone);
  EXPECT_FALSE(h.session().WantsClientBytes());
  h.Upstream(Ok("a"));
  EXPECT_EQ(h.wire.end, End::kNone);  // /b was complete too: it is still answered
  h.Upstream(Ok("b"));
  EXPECT_EQ(h.wire.end, End::kFinish);
  const auto t = ClientSees(h.wire.client, {"GET", "GET"});
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[1].payload, "b");
}

TEST(HttpSession, ClientEofFinishesWhenIdleAndResetsInsideARequest) {
  Harness idle;
  idle.Client(Get("/a"));
  idle.Upstream(Ok("a"));
  idle.ClientEof();
  EXPECT_EQ(idle.wire.end, End::kFinish);
  Harness h;
  h.Client("POST /x HTTP/1.1\r\nHost: api\r\nContent-Length: 10\r\n\r\nabc");
  h.ClientEof();
  EXPECT_EQ(h.wire.end, End::kReset);
  Harness head;
  head.Client("GET /x HTTP/1.1\r\nHo");
  head.ClientEof();
  EXPECT_EQ(head.wire.end, End::kReset);
}

TEST(HttpSession, Http10ClientIsToldWhetherTheConnectionStays) {
  Harness closing;
  closing.Client("GET /a HTTP/1.0\r\n\r\n");
  closing.Upstream(Ok("a", "Connection: keep-alive\r\n"));
  EXPECT_EQ(closing.wire.end, End::kFinish);
  auto t = ClientSees(closing.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_FALSE(t.messages[0].keep_alive);  // it says Connection: close

  Harness staying;
  staying.Client("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  staying.Upstream(Ok("a"));
  EXPECT_EQ(staying.wire.end, End::kNone);
  t = ClientSees(staying.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  const Header* connection = t.messages[0].head.Find("connection");
  ASSERT_NE(connection, nullptr);  // a 1.0 client closes without it
  EXPECT_EQ(connection->value, "keep-alive");
}

TEST(HttpSession, HeadersNamedByTheUpstreamConnectionHeaderAreDropped) {
  Harness h;
  h.Client(Get("/a"));
  h.Upstream(Ok("a", "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nX-End: 2\r\n"));
  const auto t = ClientSees(h.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.Find("x-hop"), nullptr);
  EXPECT_NE(t.messages[0].head.Find("x-end"), nullptr);
}

TEST(HttpSession, EarlyResponseDropsTheRestOfTheBodyAndRetiresTheUpstream) {
  Harness h;
  const std::string head = "POST /up HTTP/1.1\r\nHost: api\r\nContent-Length: 6\r\n\r\n";
  h.Client(head + "abc");
  h.Upstream("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(h.wire.retired, 1);
  h.Client("def" + Get("/next"));
  EXPECT_EQ(h.wire.To("backend"), head + "abc" + Get("/next"));
  EXPECT_EQ(h.wire.end, End::kNone);
}

TEST(HttpSession, UnsolicitedUpstreamBytesRetireTheUpstream) {
  Harness h;
  h.Client(Get("/a"));
  h.Upstream(Ok("a") + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(h.wire.retired, 1);
  EXPECT_EQ(h.wire.end, End::kNone);
  const auto t = ClientSees(h.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
}

TEST(HttpSession, ClientConnectionCloseEndsAfterTheResponse) {
  Harness h;
  h.Client(Get("/a", "Connection: close\r\n") + Get("/ignored"));
  h.Upstream(Ok("a"));
  EXPECT_EQ(h.wire.end, End::kFinish);
  EXPECT_EQ(h.wire.To("backend"), Get("/a", "Connection: close\r\n"));
  const auto t = ClientSees(h.wire.client, {"GET"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_FALSE(t.messages[0].keep_alive);
}

TEST(HttpSession, AnswerToHeadHasNoBodyAndTheNextRequestFollows) {
  Harness h;
  h.Client("HEAD /file HTTP/1.1\r\nHost: api\r\n\r\n" + Get("/b"));
  h.Upstream("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
  EXPECT_EQ(h.wire.To("backend"), "HEAD /file HTTP/1.1\r\nHost: api\r\n\r\n" + Get("/b"));
  h.Upstream(Ok("b"));
  const auto t = ClientSees(h.wire.client, {"HEAD", "GET"});
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[1].payload, "b");
}

TEST(HttpSession, BadChunkInAForwardedBodyIs400AndRetiresTheUpstream) {
  Harness h;
  const std::string head = "POST /x HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n";
  h.router->decide = [](const MessageHead&, std::string_view) { return Forward("backend"); };
  h.Client(head + "3\r\nabc\r\nzz\r\n");
  EXPECT_EQ(h.wire.end, End::kFinish);
  EXPECT_EQ(h.wire.retired, 1);  // it has half a request
  const auto t = ClientSees(h.wire.client, {"POST"});
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.status, 400);
}

TEST(HttpSession, RefusalReasonCannotInjectHeaders) {
  Harness h;
  h.router->decide = [](const MessageHead&, std::string_view) {
    return Refuse(403, "denied\r\nSet-Cookie: session=evil");
  };
  h.Client(Get("/a"));
  const auto t = ClientSees(h.wire.client, {"GET"});
  ASSERT_FALSE(t.failed) << t.error.reason;
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].head.Find("set-cookie"), nullptr);
  EXPECT_EQ(FerryReason(t.messages[0]), "denied  Set-Cookie: session=evil");
}

}  // namespace
}  // namespace ferry::http
