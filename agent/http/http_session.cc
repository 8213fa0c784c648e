// HttpSession, client side: sniffing, request events, holding pipelined requests, local answers.
// The upstream side (responses, upstream ends, upgrades) is in http_session_upstream.cc.
#include "agent/http/http_session.h"

#include <utility>

#include "agent/http/http_serialize.h"
#include "agent/http/path_normalizer.h"

namespace ferry::http {

using proxy::L7Actions;

namespace {

std::uint64_t PayloadBytes(const HttpEvent& event) {
  std::uint64_t n = 0;
  for (std::string_view piece : event.payload) n += piece.size();
  return n;
}

// Roughly what a held head costs in memory; only used for flow control.
std::size_t HeadSize(const MessageHead& head) {
  std::size_t n = head.method.size() + head.target.size() + 16;
  for (const Header& h : head.headers) n += h.name.size() + h.value.size() + 4;
  return n;
}

// Consecutive bytes for one key go into one segment.
void AppendToUpstream(L7Actions& out, const std::string& key, std::string_view bytes) {
  if (!out.to_upstream.empty() && out.to_upstream.back().key == key) {
    out.to_upstream.back().bytes.append(bytes);
    return;
  }
  out.to_upstream.push_back(proxy::UpstreamSegment{key, std::string(bytes)});
}

}  // namespace

HttpSession::HttpSession(std::shared_ptr<RequestRouter> router, HttpSessionOptions options)
    : router_(std::move(router)),
      options_(std::move(options)),
      mode_(Mode::kSniffing),
      requests_(options_.limits) {
  FERRY_ASSERT(router_ != nullptr);
}

HttpSession::~HttpSession() = default;

HttpSession::Clock::time_point HttpSession::Now() const {
  return options_.now ? options_.now() : Clock::now();
}

bool HttpSession::AwaitingResponse() const {
  return exchange_ && exchange_->forwarded && !exchange_->response_done;
}

bool HttpSession::WantsClientBytes() const {
  if (mode_ == Mode::kSniffing) return !client_eof_;
  if (mode_ != Mode::kHttp || client_eof_) return false;
  // After a request that ends the connection (or a framing error) no more requests are read.
  const ReaderState state = requests_.state();
  if (state == ReaderState::kClosed || state == ReaderState::kFailed) return false;
  return held_bytes_ + unparsed_.size() <= options_.max_held_bytes;
}

bool HttpSession::WantsUpstreamBytes() const { return mode_ == Mode::kHttp && AwaitingResponse(); }

void HttpSession::OnClientBytes(std::string_view bytes, L7Actions& out) {
  if (client_eof_) return;
  if (mode_ == Mode::kSniffing) {
    Sniff(bytes, out);
  } else if (mode_ == Mode::kHttp) {
    FeedRequests(bytes, out);
    Advance(out);
  }
}

void HttpSession::OnClientEof(L7Actions& out) {
  if (client_eof_ || mode_ == Mode::kStream || mode_ == Mode::kEnded) return;
  client_eof_ = true;
  if (mode_ == Mode::kSniffing) {
    if (sniffed_.empty()) {
      Finish(out, "client closed");
    } else if (options_.sniff) {
      // Too short to recognise: a client that says a few bytes and half-closes is still a stream.
      RouteWholeStream(ProtocolGuess::kOther, out);
    } else {
      Reset(out, "client closed inside a request head");
    }
    return;
  }
  if (requests_.state() == ReaderState::kReading) {
    FeedResult result = requests_.FeedEof();
    TakeRequestEvents(result, out);
  }
  Advance(out);
}

void HttpSession::Sniff(std::string_view bytes, L7Actions& out) {
  sniffed_.append(bytes);
  const ProtocolGuess guess = SniffProtocol(sniffed_);
  if (guess == ProtocolGuess::kNeedMore) return;
  // On a declared HTTP port the reader answers an HTTP/2 preface itself (with its reason).
  if (guess == ProtocolGuess::kHttp1 || (!options_.sniff && guess == ProtocolGuess::kHttp2)) {
    mode_ = Mode::kHttp;
    const std::string first = std::exchange(sniffed_, {});
    FeedRequests(first, out);
    Advance(out);
  } else if (options_.sniff) {
    RouteWholeStream(guess, out);
  } else {
    out.to_client += MakeProxyResponse(400, "not an HTTP/1.1 request", true);
    Finish(out, "not an HTTP/1.1 request on an HTTP port");
  }
}

void HttpSession::RouteWholeStream(ProtocolGuess guess, L7Actions& out) {
  const RequestVerdict verdict = router_->RouteStream(guess);
  if (!verdict.forward) {
    Reset(out, "stream refused: " + verdict.reason);
    return;
  }
  out.to_upstream.push_back(proxy::UpstreamSegment{verdict.upstream_key, std::move(sniffed_)});
  sniffed_.clear();
  out.become_stream = true;
  mode_ = Mode::kStream;
}

void HttpSession::FeedRequests(std::string_view bytes, L7Actions& out) {
  if (requests_.state() == ReaderState::kUpgradePending) {
    // The upgrade's answer decides whether these are stream bytes or the next requests.
    unparsed_.append(bytes);
    return;
  }
  if (requests_.state() != ReaderState::kReading) return;  // nothing more is read
  FeedResult result = requests_.Feed(bytes);
  TakeRequestEvents(result, out);
  if (result.consumed < bytes.size() && requests_.state() == ReaderState::kUpgradePending) {
    unparsed_.append(bytes.substr(result.consumed));
  }
}

// Events are handled at once when they can be (a body streams straight through); the rest are
// copied and held, in order, until the exchange before them is over.
void HttpSession::TakeRequestEvents(FeedResult& result, L7Actions& out) {
  const Clock::time_point received = Now();
  for (std::size_t i = 0; i < result.events.size(); ++i) {
    HttpEvent& event = result.events[i];
    if (mode_ != Mode::kHttp) return;
    if (held_.empty() && CanHandleNow(event)) {
      const EventContext context{PayloadBytes(event), received, i + 1 < result.events.size()};
      HandleRequestEvent(event, context, out);
    } else {
      Hold(std::move(event), received);
    }
  }
}

void HttpSession::Hold(HttpEvent event, Clock::time_point received) {
  HeldEvent held;
  held.raw = std::string(event.raw);
  held.payload_bytes = PayloadBytes(event);
  held.received = received;
  held.size = held.raw.size() + (event.kind == HttpEvent::Kind::kHead ? HeadSize(event.head) : 0);
  held.event = std::move(event);
  held.event.raw = {};
  held.event.payload.clear();
  held_bytes_ += held.size;
  held_.push_back(std::move(held));
}

bool HttpSession::CanHandleNow(const HttpEvent& event) const {
  switch (event.kind) {
    case HttpEvent::Kind::kHead:
      return !exchange_;
    case HttpEvent::Kind::kBody:
    case HttpEvent::Kind::kEnd:
      return true;  // they belong to the request in progress, whose head was handled before
    case HttpEvent::Kind::kError:
      // Inside a request it concerns that request; between requests it waits for the
      // outstanding response, so the client gets every answer before the error.
      return !exchange_ || !exchange_->request_done;
  }
  return true;
}

void HttpSession::Pump(L7Actions& out) {
  while (mode_ == Mode::kHttp && !held_.empty() && CanHandleNow(held_.front().event)) {
    HeldEvent held = std::move(held_.front());
    held_.pop_front();
    held_bytes_ -= held.size;
    held.event.raw = held.raw;
    const EventContext context{held.payload_bytes, held.received, !held_.empty()};
    HandleRequestEvent(held.event, context, out);
  }
}

void HttpSession::HandleRequestEvent(HttpEvent& event, const EventContext& context,
                                     L7Actions& out) {
  switch (event.kind) {
    case HttpEvent::Kind::kHead:
      StartRequest(event.head, context, out);
      return;
    case HttpEvent::Kind::kBody: {
      Exchange& x = *exchange_;
      x.body_seen = true;
      x.record.request_body_bytes += context.payload_bytes;
      // After the response (an early answer, or a local one) the rest of the body is dropped.
      if (x.forwarded && !x.response_done) AppendToUpstream(out, x.record.upstream_key, event.raw);
      return;
    }
    case HttpEvent::Kind::kEnd:
      exchange_->request_done = true;
      MaybeCompleteExchange(out);
      return;
    case HttpEvent::Kind::kError:
      HandleRequestError(event.error, out);
      return;
  }
}

void HttpSession::StartRequest(const MessageHead& head, const EventContext& context,
                               L7Actions& out) {
  Exchange& x = exchange_.emplace();
  x.received = context.received;
  x.record.method = head.method;
  x.client_close = !head.keep_alive;
  x.http10 = head.version_major == 1 && head.version_minor == 0;
  x.upgrade = head.upgrade;
  x.expect_continue = head.expect_continue;
  if (head.method == "CONNECT") {
    x.record.path = head.target;
    RefuseRequest(405, "CONNECT is not allowed through the mesh", context, out);
    return;
  }
  Result<NormalizedTarget> target = NormalizePath(head.target);
  if (!target.ok()) {
    x.record.status = 400;
    x.record.local_response = true;
    out.to_client += MakeProxyResponse(400, target.error().Message(), true);
    Finish(out, "bad request target: " + target.error().Message());
    return;
  }
  x.record.path = target->path;
  // The normalised form is both what the policy matches and what the backend receives.
  RequestVerdict verdict = router_->RouteRequest(head, target->path);
  if (!verdict.forward) {
    RefuseRequest(verdict.status, verdict.reason, context, out);
    return;
  }
  x.forwarded = true;
  x.record.upstream_key = std::move(verdict.upstream_key);
  responses_ = std::make_unique<ResponseReader>(options_.limits);
  responses_->ExpectResponseTo(head.method);
  AppendToUpstream(out, x.record.upstream_key, SerializeRequestHead(head, BuildTarget(*target)));
}

// A local answer. The request's body, if any, is still read (the reader frames it) and dropped,
// so the connection can carry the next request.
void HttpSession::RefuseRequest(int status, std::string_view reason, const EventContext& context,
                                L7Actions& out) {
  Exchange& x = *exchange_;
  x.record.status = status;
  x.record.local_response = true;
  x.response_done = true;
  x.answered = Now();
  // A client waiting for 100 Continue has not sent its body; if it gives up waiting it may send
  // it anyway, and nothing tells those bytes from a next request. Closing is the safe answer.
  if (x.expect_continue && !context.more_parsed) {
    out.to_client += MakeProxyResponse(status, reason, true);
    Finish(out, "refused a request that expects 100-continue: " + std::string(reason));
    return;
  }
  out.to_client += MakeProxyResponse(status, reason, x.client_close);
}

void HttpSession::HandleRequestError(const HttpError& error, L7Actions& out) {
  if (error.kind == HttpErrorKind::kTruncated) {
    Reset(out, "client closed inside a request: " + error.reason);
    return;
  }
  if (exchange_) {
    // Inside a request body. The upstream has part of the request: it cannot be reused.
    Exchange& x = *exchange_;
    if (x.forwarded) out.retire_upstream = true;
    if (x.forwarded && !x.response_done) {
      if (x.final_head_sent) {
        Reset(out, "bad request body after the response started: " + error.reason);
        return;
      }
      x.record.status = error.status;
      x.record.local_response = true;
      out.to_client += MakeProxyResponse(error.status, error.reason, true);
    }
    // Otherwise the client already has its answer to this request.
    Finish(out, "bad request body: " + error.reason);
    return;
  }
  Exchange& x = exchange_.emplace();
  x.received = Now();
  x.record.status = error.status;
  x.record.local_response = true;
  out.to_client += MakeProxyResponse(error.status, error.reason, true);
  Finish(out, "bad request: " + error.reason);
}

void HttpSession::MaybeCompleteExchange(L7Actions& out) {
  if (!exchange_ || !exchange_->request_done || !exchange_->response_done) return;
  const bool close = exchange_->client_close || exchange_->until_close;
  RecordExchange();
  if (close) Finish(out, "the exchange ended the connection");
}

// Hands the current exchange to the router's log and forgets it.
void HttpSession::RecordExchange() {
  if (!exchange_) return;
  Exchange& x = *exchange_;
  const Clock::time_point end = x.response_done ? x.answered : Now();
  x.record.duration = std::chrono::duration_cast<std::chrono::microseconds>(end - x.received);
  RequestRecord record = std::move(x.record);
  exchange_.reset();
  router_->OnRequestDone(record);
}

// Releases held requests whose turn has come, and resumes reading after a refused upgrade.
void HttpSession::Advance(L7Actions& out) {
  while (mode_ == Mode::kHttp) {
    Pump(out);
    if (mode_ != Mode::kHttp) return;
    // The reader stopped at an upgrade request whose exchange is over without a switch: the
    // bytes after it are HTTP again.
    if (exchange_ || requests_.state() != ReaderState::kUpgradePending) break;
    requests_.ResumeAfterRefusedUpgrade();
    const std::string rest = std::exchange(unparsed_, {});
    FeedRequests(rest, out);
    if (client_eof_ && requests_.state() == ReaderState::kReading) {
      FeedResult result = requests_.FeedEof();
      TakeRequestEvents(result, out);
    }
  }
  if (mode_ == Mode::kHttp && client_eof_ && !exchange_ && held_.empty()) {
    Finish(out, "client closed");
  }
}

void HttpSession::Finish(L7Actions& out, std::string reason) {
  RecordExchange();
  held_.clear();
  held_bytes_ = 0;
  mode_ = Mode::kEnded;
  out.end = L7Actions::End::kFinish;
  out.reason = std::move(reason);
}

void HttpSession::Reset(L7Actions& out, std::string reason) {
  RecordExchange();
  held_.clear();
  held_bytes_ = 0;
  mode_ = Mode::kEnded;
  out.end = L7Actions::End::kReset;
  out.reason = std::move(reason);
}

}  // namespace ferry::http
