// HttpSession, upstream side: responses passed to the client with hop-by-hop fix-ups, upstream
// failures turned into 502/503 (or a reset once a response is partly sent), protocol switches.
#include <utility>

#include "agent/http/http_serialize.h"
#include "agent/http/http_session.h"  // the class; its main file is http_session.cc

namespace ferry::http {

using proxy::L7Actions;
using proxy::UpstreamEnd;

namespace {

bool ListsToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The upstream's Connection and Keep-Alive headers, and the headers Connection names, describe
// the upstream connection, not the client's (RFC 9110 7.6.1); the proxy says its own.
MessageHead WithoutHopByHop(const MessageHead& head) {
  MessageHead out = head;
  out.headers.clear();
  for (const Header& h : head.headers) {
    if (EqualsIgnoreCase(h.name, "connection") || EqualsIgnoreCase(h.name, "keep-alive")) continue;
    bool named = false;
    for (const Header& c : head.headers) {
      if (EqualsIgnoreCase(c.name, "connection") && ListsToken(c.value, h.name)) named = true;
    }
    if (!named) out.headers.push_back(h);
  }
  return out;
}

std::uint64_t PayloadBytes(const HttpEvent& event) {
  std::uint64_t n = 0;
  for (std::string_view piece : event.payload) n += piece.size();
  return n;
}

}  // namespace

void HttpSession::OnUpstreamBytes(std::string_view bytes, L7Actions& out) {
  if (mode_ != Mode::kHttp) return;
  if (!AwaitingResponse()) {
    // Bytes nobody asked for: the upstream is out of step with its requests.
    out.retire_upstream = true;
    return;
  }
  const FeedResult result = responses_->Feed(bytes);
  for (const HttpEvent& event : result.events) {
    if (mode_ != Mode::kHttp) return;
    if (!AwaitingResponse()) {
      out.retire_upstream = true;  // more after the complete response
      break;
    }
    HandleResponseEvent(event, out);
  }
  if (mode_ == Mode::kHttp && exchange_ && exchange_->switching &&
      responses_->state() == ReaderState::kUpgradePending) {
    SwitchProtocols(bytes.substr(result.consumed), out);
    return;
  }
  Advance(out);
}

void HttpSession::OnUpstreamEnd(UpstreamEnd end, std::string_view reason, L7Actions& out) {
  if (mode_ != Mode::kHttp || !AwaitingResponse()) return;  // nothing expected: just forgotten
  if (end == UpstreamEnd::kClosed && !exchange_->switching) {
    // EOF is how a read-until-close body ends; anything else it cuts short.
    const FeedResult result = responses_->FeedEof();
    for (const HttpEvent& event : result.events) {
      if (event.kind == HttpEvent::Kind::kError) break;
      HandleResponseEvent(event, out);
    }
  }
  if (mode_ == Mode::kHttp && AwaitingResponse()) UpstreamLost(end, reason, out);
  Advance(out);
}

void HttpSession::HandleResponseEvent(const HttpEvent& event, L7Actions& out) {
  Exchange& x = *exchange_;
  switch (event.kind) {
    case HttpEvent::Kind::kHead:
      PassResponseHead(event.head, out);
      return;
    case HttpEvent::Kind::kBody:
      if (x.interim) return;  // 1xx have no body; the reader never reports one
      out.to_client.append(event.raw);
      x.record.response_body_bytes += PayloadBytes(event);
      return;
    case HttpEvent::Kind::kEnd:
      if (x.interim) {
        x.interim = false;  // the final response to the same request follows
      } else if (!x.switching) {
        CompleteResponse(event.keep_alive, out);
      }
      return;
    case HttpEvent::Kind::kError:
      ResponseFailed(event.error.reason, out);
      return;
  }
}

void HttpSession::PassResponseHead(const MessageHead& head, L7Actions& out) {
  Exchange& x = *exchange_;
  if (head.status == 101) {
    if (!x.upgrade || !x.request_done) {
      ResponseFailed("101 Switching Protocols to a request that asked for no upgrade", out);
      return;
    }
    // Passed whole: its Connection: Upgrade is what the client waits for.
    x.switching = true;
    x.final_head_sent = true;
    x.record.status = 101;
    out.to_client += SerializeResponseHead(head);
    return;
  }
  if (head.informational()) {
    x.interim = true;
    // An HTTP/1.0 client does not know 1xx (RFC 9110 15.2).
    if (!x.http10) out.to_client += SerializeResponseHead(head);
    return;
  }
  x.final_head_sent = true;
  x.record.status = head.status;
  x.until_close = head.framing == BodyFraming::kUntilClose;
  MessageHead fixed = WithoutHopByHop(head);
  if (x.client_close || x.until_close) {
    fixed.headers.push_back(Header{"Connection", "close"});
  } else if (x.http10) {
    fixed.headers.push_back(Header{"Connection", "keep-alive"});  // 1.0 closes without it
  }
  out.to_client += SerializeResponseHead(fixed);
}

void HttpSession::CompleteResponse(bool keep_alive, L7Actions& out) {
  Exchange& x = *exchange_;
  x.response_done = true;
  x.answered = Now();
  // The client connection stays; the next request gets another upstream.
  if (!keep_alive) out.retire_upstream = true;
  // An early answer: the upstream has only part of the request, so it is in an unknown state.
  if (!x.request_done) out.retire_upstream = true;
  MaybeCompleteExchange(out);
}

void HttpSession::ResponseFailed(std::string_view reason, L7Actions& out) {
  Exchange& x = *exchange_;
  out.retire_upstream = true;
  if (x.final_head_sent) {
    // A truncated response must never look complete to the client.
    Reset(out, "bad upstream response: " + std::string(reason));
    return;
  }
  x.record.status = 502;
  x.record.local_response = true;
  x.response_done = true;
  x.answered = Now();
  out.to_client += MakeProxyResponse(502, reason, true);
  Finish(out, "bad upstream response: " + std::string(reason));
}

void HttpSession::UpstreamLost(UpstreamEnd end, std::string_view reason, L7Actions& out) {
  Exchange& x = *exchange_;
  if (x.final_head_sent) {
    Reset(out, "upstream ended inside a response: " + std::string(reason));
    return;
  }
  std::string text;
  int status = 502;
  switch (end) {
    case UpstreamEnd::kClosed:
      text = "upstream closed the connection before responding";
      break;
    case UpstreamEnd::kReset:
      text = "upstream connection reset before responding";
      break;
    case UpstreamEnd::kUnavailable:
      status = 503;
      text = reason.empty() ? "upstream unavailable" : std::string(reason);
      break;
  }
  // Only a completely received request leaves the client connection in a known state.
  const bool keep = x.request_done && !x.client_close;
  x.record.status = status;
  x.record.local_response = true;
  x.response_done = true;
  x.answered = Now();
  out.to_client += MakeProxyResponse(status, text, !keep);
  if (!x.request_done) {
    Finish(out, text);
    return;
  }
  MaybeCompleteExchange(out);
}

// 101 passed on: what the upstream sent after it goes to the client, what the client sent after
// its upgrade request goes to the upstream, and the engine relays bytes from now on.
void HttpSession::SwitchProtocols(std::string_view upstream_rest, L7Actions& out) {
  Exchange& x = *exchange_;
  out.to_client.append(upstream_rest);
  if (!unparsed_.empty()) {
    out.to_upstream.push_back(proxy::UpstreamSegment{x.record.upstream_key, std::move(unparsed_)});
    unparsed_.clear();
  }
  x.response_done = true;
  x.answered = Now();
  RecordExchange();
  out.become_stream = true;
  mode_ = Mode::kStream;
}

}  // namespace ferry::http
