#include "agent/http/path_normalizer.h"

#include <algorithm>
#include <vector>

namespace ferry::http {
namespace {

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char HexDigit(int v) { return "0123456789ABCDEF"[v & 0xf]; }

// Strips "scheme://authority" from an absolute-form target; the rest is origin-form.
Result<std::string_view> OriginPart(std::string_view target) {
  const std::size_t scheme_end = target.find("://");
  if (!target.empty() && target.front() != '/' && scheme_end != std::string_view::npos) {
    const std::string_view rest = target.substr(scheme_end + 3);
    const std::size_t path_start = rest.find_first_of("/?");
    if (path_start == std::string_view::npos) return std::string_view("/");
    if (rest[path_start] == '?') return MakeError("absolute-form target without a path");
    return rest.substr(path_start);
  }
  if (target.empty() || target.front() != '/') return MakeError("request target is not a path");
  return target;
}

// Decodes escapes of unreserved characters; keeps the rest escaped with upper-case hex.
Result<std::string> DecodeUnreserved(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (IsControl(c)) return MakeError("control character in path");
    if (c != '%') {
      out.push_back(static_cast<char>(c));
      continue;
    }
    const int hi = i + 2 < path.size() ? HexValue(path[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(path[i + 2]) : -1;
    if (hi < 0 || lo < 0) return MakeError("invalid percent-encoding in path");
    const unsigned char decoded = static_cast<unsigned char>(hi * 16 + lo);
    if (IsControl(decoded)) return MakeError("encoded control character in path");
    if (IsUnreserved(decoded)) {
      out.push_back(static_cast<char>(decoded));
    } else {
      out += {'%', HexDigit(hi), HexDigit(lo)};
    }
    i += 2;
  }
  return out;
}

// RFC 3986 5.2.4 on a decoded path, with empty segments (duplicate slashes) dropped.
Result<std::string> ResolveSegments(std::string_view path) {
  std::vector<std::string_view> kept;
  bool trailing_slash = false;  // the path ends in a directory ("/a/", "/a/.", "/a/b/..")
  std::size_t pos = 1;          // past the leading '/'
  while (pos <= path.size()) {
    const std::size_t end = std::min(path.find('/', pos), path.size());
    const std::string_view seg = path.substr(pos, end - pos);
    pos = end + 1;
    trailing_slash = seg.empty() || seg == "." || seg == "..";
    if (seg == "..") {
      if (kept.empty()) return MakeError("path climbs above the root");
      kept.pop_back();
    } else if (!seg.empty() && seg != ".") {
      kept.push_back(seg);
    }
  }
  std::string out;
  for (std::string_view seg : kept) {
    out += '/';
    out += seg;
  }
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

}  // namespace

Result<NormalizedTarget> NormalizePath(std::string_view target) {
  if (target.find('#') != std::string_view::npos) return MakeError("fragment in request target");
  auto origin = OriginPart(target);
  if (!origin.ok()) return origin.error();
  std::string_view path = *origin;
  NormalizedTarget result;
  if (const std::size_t q = path.find('?'); q != std::string_view::npos) {
    result.has_query = true;
    result.query = std::string(path.substr(q + 1));
    path = path.substr(0, q);
    for (unsigned char c : result.query) {
      if (IsControl(c)) return MakeError("control character in query");
    }
  }
  auto decoded = DecodeUnreserved(path);
  if (!decoded.ok()) return decoded.error();
  auto resolved = ResolveSegments(*decoded);
  if (!resolved.ok()) return resolved.error();
  result.path = std::move(*resolved);
  return result;
}

std::string BuildTarget(const NormalizedTarget& target) {
  if (!target.has_query) return target.path;
  return target.path + "?" + target.query;
}

}  // namespace ferry::http
