// Test helper: feeds a reader in pieces and records what a relay would see, owning every byte
// (body events point into the fed buffer, which the helper reuses).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "agent/http/http_message.h"

namespace ferry::http::http_test {

struct Message {
  MessageHead head;
  std::string payload;  // decoded body
  std::string raw;      // body bytes as on the wire
  bool ended = false;
  bool keep_alive = false;
  bool upgrade = false;
};

struct Transcript {
  std::vector<Message> messages;
  bool failed = false;
  HttpError error;
  std::size_t consumed = 0;  // total bytes the reader took

  void Add(const FeedResult& r) {
    consumed += r.consumed;
    for (const HttpEvent& ev : r.events) {
      switch (ev.kind) {
        case HttpEvent::Kind::kHead:
          messages.emplace_back();
          messages.back().head = ev.head;
          break;
        case HttpEvent::Kind::kBody:
          messages.back().raw.append(ev.raw);
          for (std::string_view piece : ev.payload) messages.back().payload.append(piece);
          break;
        case HttpEvent::Kind::kEnd:
          messages.back().ended = true;
          messages.back().keep_alive = ev.keep_alive;
          messages.back().upgrade = ev.upgrade;
          break;
        case HttpEvent::Kind::kError:
          failed = true;
          error = ev.error;
          break;
      }
    }
  }
};

// Feeds `input` in pieces of `step` bytes through one scratch buffer that is reused (and wiped)
// between calls, as a relay reuses its receive buffer. Stops where the reader stops.
template <typename Reader>
Transcript FeedInPieces(Reader& reader, std::string_view input, std::size_t step) {
  Transcript t;
  std::string buffer;
  std::size_t pos = 0;
  while (pos < input.size()) {
    buffer.assign(input.substr(pos, std::min(step, input.size() - pos)));
    const FeedResult r = reader.Feed(buffer);
    t.Add(r);
    pos += r.consumed;
    std::fill(buffer.begin(), buffer.end(), '#');
    if (r.consumed < buffer.size()) break;
  }
  return t;
}

}  // namespace ferry::http::http_test
