// HTTP/1.1 on one client connection of the node proxy, without sockets: the engine feeds the
// client's and the current upstream's bytes in, and HttpSession says what goes where. Every
// request is routed on its own (RequestRouter: policy, TrafficSplit), so one keep-alive client
// connection can reach several backends, and a denied request is answered locally without
// closing the connection.
//
// Exchanges are serialised: at most one request is forwarded and awaiting its response at a time.
// Pipelined requests that arrive meanwhile are parsed and held (bounded by max_held_bytes) and
// routed when their turn comes. That keeps responses in request order whatever upstream each
// request went to, and lets every response be framed by a reader that knows its request.
//
// Engine contract beyond l7_session.h (see the comments on the calls below):
//  - when one L7Actions carries retire_upstream and to_upstream segments, the retirement is for
//    the upstream that was current before the call (the one whose response just ended); the
//    segments belong to the next request and go to a fresh or pooled upstream, even for the
//    same key;
//  - become_stream may come after OnClientEof (an upgrade or a stream the client half-closed
//    while it was being decided): the engine then passes that EOF on to the upstream.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/http/http_message.h"
#include "agent/http/request_reader.h"
#include "agent/http/request_router.h"
#include "agent/http/response_reader.h"
#include "agent/proxy/l7_session.h"

namespace ferry::http {

struct HttpSessionOptions {
  // true: the first bytes decide (HTTP/1 -> HTTP; the h2 preface or anything else -> RouteStream).
  // false: the port is declared HTTP: anything else gets 400 and a close.
  bool sniff = true;
  HttpLimits limits{};
  // Pipelined request bytes held while a response is outstanding; above it the client is not read.
  std::size_t max_held_bytes = 64 * 1024;
  // The clock for RequestRecord::duration; null = steady_clock::now (tests inject one).
  std::function<std::chrono::steady_clock::time_point()> now;
};

class HttpSession final : public proxy::L7Session {
 public:
  explicit HttpSession(std::shared_ptr<RequestRouter> router, HttpSessionOptions options = {});
  ~HttpSession() override;
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void OnClientBytes(std::string_view bytes, proxy::L7Actions& out) override;
  void OnClientEof(proxy::L7Actions& out) override;
  void OnUpstreamBytes(std::string_view bytes, proxy::L7Actions& out) override;
  void OnUpstreamEnd(proxy::UpstreamEnd end, std::string_view reason,
                     proxy::L7Actions& out) override;
  bool WantsClientBytes() const override;
  bool WantsUpstreamBytes() const override;

 private:
  using Clock = std::chrono::steady_clock;
  enum class Mode {
    kSniffing,  // waiting for enough bytes to tell HTTP/1 from anything else
    kHttp,
    kStream,  // handed over to the engine as a byte stream
    kEnded,   // kFinish or kReset was returned
  };

  // The request being handled and its response (one at a time).
  struct Exchange {
    RequestRecord record;
    Clock::time_point received;
    Clock::time_point answered;
    bool forwarded = false;
    bool request_done = false;   // the request's last byte was read
    bool body_seen = false;      // some of the request body was read
    bool response_done = false;  // the client has the whole response (or a local answer)
    bool client_close = false;   // the request ends the connection (close, HTTP/1.0)
    bool http10 = false;
    bool upgrade = false;  // the request asked for an upgrade (websocket)
    bool expect_continue = false;
    bool final_head_sent = false;  // a byte of the final response reached the client
    bool interim = false;          // the response being read is a 1xx
    bool until_close = false;      // its body runs until the upstream closes
    bool switching = false;        // 101 Switching Protocols was passed on
  };

  // A request event that could not be handled yet, owning a copy of its bytes.
  struct HeldEvent {
    HttpEvent event;  // raw and payload are empty; see `raw`
    std::string raw;
    std::uint64_t payload_bytes = 0;
    Clock::time_point received;
    std::size_t size = 0;  // counted against max_held_bytes
  };

  // Per request event: what is known beyond the event itself.
  struct EventContext {
    std::uint64_t payload_bytes = 0;
    Clock::time_point received;
    bool more_parsed = false;  // further events of the client stream are already parsed
  };

  // Client side (http_session.cc).
  void Sniff(std::string_view bytes, proxy::L7Actions& out);
  void RouteWholeStream(ProtocolGuess guess, proxy::L7Actions& out);
  void FeedRequests(std::string_view bytes, proxy::L7Actions& out);
  void TakeRequestEvents(FeedResult& result, proxy::L7Actions& out);
  void Hold(HttpEvent event, Clock::time_point received);
  bool CanHandleNow(const HttpEvent& event) const;
  void HandleRequestEvent(HttpEvent& event, const EventContext& context, proxy::L7Actions& out);
  void StartRequest(const MessageHead& head, const EventContext& context, proxy::L7Actions& out);
  void RefuseRequest(int status, std::string_view reason, const EventContext& context,
                     proxy::L7Actions& out);
  void HandleRequestError(const HttpError& error, proxy::L7Actions& out);
  void Pump(proxy::L7Actions& out);
  void Advance(proxy::L7Actions& out);
  void MaybeCompleteExchange(proxy::L7Actions& out);
  void RecordExchange();
  void Finish(proxy::L7Actions& out, std::string reason);
  void Reset(proxy::L7Actions& out, std::string reason);
  bool AwaitingResponse() const;
  Clock::time_point Now() const;

  // Upstream side (http_session_upstream.cc).
  void HandleResponseEvent(const HttpEvent& event, proxy::L7Actions& out);
  void PassResponseHead(const MessageHead& head, proxy::L7Actions& out);
  void CompleteResponse(bool keep_alive, proxy::L7Actions& out);
  void ResponseFailed(std::string_view reason, proxy::L7Actions& out);
  void UpstreamLost(proxy::UpstreamEnd end, std::string_view reason, proxy::L7Actions& out);
  void SwitchProtocols(std::string_view upstream_rest, proxy::L7Actions& out);

  std::shared_ptr<RequestRouter> router_;
  HttpSessionOptions options_;
  Mode mode_;
  std::string sniffed_;  // first bytes while sniffing
  RequestReader requests_;
  std::unique_ptr<ResponseReader> responses_;  // one per forwarded request
  std::optional<Exchange> exchange_;
  std::deque<HeldEvent> held_;
  std::size_t held_bytes_ = 0;
  std::string unparsed_;  // client bytes after an upgrade request, until its answer is known
  bool client_eof_ = false;
};

}  // namespace ferry::http
