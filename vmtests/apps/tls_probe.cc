// ferry-tls-probe: dials a mesh tunnel port (15008) the way a source agent would — or the way an
// attacker with the wrong certificate would — and prints one JSON line with what it saw:
//
//   ferry-tls-probe --connect IP:PORT --ca FILE [--cert FILE --key FILE]
//                   [--target IP:PORT | --target PORT] [--send MARKER] [--timeout-ms N]
//
//   {"tcp":"ok|error","handshake":"ok|failed","error":"...","status":200,"reason":"...",
//    "peer_uri":"spiffe://...","peer_serial":"<hex>","echo":"..."}
//
// TCP connect, TLS 1.3 only, the server chain verified against --ca (no hostname check: mesh
// peers are named by their SPIFFE URI, reported as peer_uri), a client certificate only when
// --cert/--key are given. Then `CONNECT <target>` (default target: the --connect address; a bare
// PORT keeps the --connect IP), the response status and x-ferry-reason, and with --send the
// marker and whatever echo arrives ("echo", only then present).
//
// In TLS 1.3 the client finishes its handshake before the server has judged the client's
// certificate, so a server refusing us shows up as an alert/EOF/reset while reading the CONNECT
// response: that is reported as handshake "failed" with status 0 and the alert in "error".
// Exit status 0 whenever a verdict was printed; 2 for usage errors (including unreadable
// --ca/--cert/--key files: a broken test setup must not look like a refused connection).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/tunnel/connect_preface.h"
#include "common/ipv4.h"
#include "common/unique_fd.h"
#include "identity/x509_inspect.h"

namespace {

using ferry::Ipv4Endpoint;
using ferry::UniqueFd;

struct Options {
  Ipv4Endpoint connect;
  Ipv4Endpoint target;
  std::string ca, cert, key, send;
  int timeout_ms = 5000;
};

struct Verdict {
  bool tcp_ok = false;
  bool handshake_ok = false;
  std::string error;
  int status = 0;
  std::string reason;
  std::string peer_uri;
  std::string peer_serial;  // of the server's certificate: rotation is visible to tests
  std::optional<std::string> echo;

  void Print() const {
    nlohmann::json j = {{"tcp", tcp_ok ? "ok" : "error"},
                        {"handshake", handshake_ok ? "ok" : "failed"},
                        {"error", error},
                        {"status", status},
                        {"reason", reason},
                        {"peer_uri", peer_uri},
                        {"peer_serial", peer_serial}};
    if (echo) j["echo"] = *echo;
    // Replace invalid UTF-8 (an echo may be anything) instead of throwing.
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
  }
};

int Usage(const std::string& why) {
  std::fprintf(stderr,
               "ferry-tls-probe: %s\nusage: ferry-tls-probe --connect IP:PORT --ca FILE "
               "[--cert FILE --key FILE] [--target IP:PORT|PORT] [--send MARKER] "
               "[--timeout-ms N]\n",
               why.c_str());
  return 2;
}

// The OpenSSL error queue as one line (and emptied), or `fallback` when it is empty.
std::string TakeSslErrors(const std::string& fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? fallback : out;
}

std::optional<std::string> ParseArgs(int argc, char** argv, Options& o) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) return "bad argument " + a;
    flags[a.substr(2)] = argv[++i];
  }
  for (const auto& [k, v] : flags) {
    if (k != "connect" && k != "ca" && k != "cert" && k != "key" && k != "target" && k != "send" &&
        k != "timeout-ms")
      return "unknown flag --" + k;
  }
  auto connect = ferry::ParseIpv4Endpoint(flags["connect"]);
  if (!connect) return "--connect needs IP:PORT";
  o.connect = *connect;
  o.target = *connect;
  if (flags.count("target")) {
    const std::string& t = flags["target"];
    if (auto ep = ferry::ParseIpv4Endpoint(t))
      o.target = *ep;
    else if (!t.empty() && t.find_first_not_of("0123456789") == std::string::npos && t.size() <= 5)
      o.target.port = static_cast<uint16_t>(std::stoi(t));
    else
      return "--target needs IP:PORT or PORT";
  }
  o.ca = flags["ca"];
  if (o.ca.empty()) return "--ca is required";
  o.cert = flags["cert"];
  o.key = flags["key"];
  if (o.cert.empty() != o.key.empty()) return "--cert and --key go together";
  o.send = flags["send"];
  if (flags.count("timeout-ms")) {
    const std::string& t = flags["timeout-ms"];
    if (t.empty() || t.size() > 7 || t.find_first_not_of("0123456789") != std::string::npos)
      return "--timeout-ms needs a number";
    o.timeout_ms = std::max(1, std::stoi(t));
  }
  return std::nullopt;
}

// Blocking socket with per-operation timeouts; connect itself bounded by poll.
std::optional<UniqueFd> TcpConnect(const Options& o, std::string& error) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    error = std::string("socket: ") + std::strerror(errno);
    return std::nullopt;
  }
  sockaddr_in sa = o.connect.ToSockaddr();
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 &&
      errno != EINPROGRESS) {
    error = std::string("connect: ") + std::strerror(errno);
    return std::nullopt;
  }
  pollfd p{fd.get(), POLLOUT, 0};
  int n = ::poll(&p, 1, o.timeout_ms);
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  if (n == 0)
    so_error = ETIMEDOUT;
  else if (n < 0 || getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
    so_error = errno;
  if (so_error != 0) {
    error = std::string("connect: ") + std::strerror(so_error);
    return std::nullopt;
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  timeval tv{o.timeout_ms / 1000, (o.timeout_ms % 1000) * 1000};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// Returns the context, or nullptr with `error` set (unreadable files are a usage error).
SslCtxPtr MakeContext(const Options& o, std::string& error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    error = TakeSslErrors("SSL_CTX_new");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), o.ca.c_str(), nullptr) != 1) {
    error = "loading --ca " + o.ca + ": " + TakeSslErrors("failed");
    return nullptr;
  }
  if (!o.cert.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), o.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_check_private_key(ctx.get()) != 1)) {
    error = "loading --cert/--key: " + TakeSslErrors("failed");
    return nullptr;
  }
  return ctx;
}

// Why an SSL call failed, in words a test can match ("certificate verify failed: ...",
// "tlsv13 alert certificate required", "connection reset", "EOF").
std::string SslFailure(SSL* ssl, int ret, const char* stage) {
  int err = SSL_get_error(ssl, ret);
  int saved_errno = errno;
  std::string detail = TakeSslErrors("");
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK)
    detail += std::string(" (verify: ") + X509_verify_cert_error_string(verify) + ")";
  if (detail.empty()) {
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && saved_errno == 0))
      detail = "EOF";
    else if (err == SSL_ERROR_SYSCALL && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
      detail = "timeout";
    else if (err == SSL_ERROR_SYSCALL)
      detail = std::strerror(saved_errno);
    else
      detail = "SSL error " + std::to_string(err);
  }
  return std::string(stage) + ": " + detail;
}

std::string PeerUri(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return "";
  auto uri = ferry::identity::CertificateUriSan(peer);
  return uri.ok() ? uri.value() : "";
}

bool WriteAll(SSL* ssl, const std::string& bytes, Verdict& v, const char* stage) {
  size_t written = 0;
  int ret = SSL_write_ex(ssl, bytes.data(), bytes.size(), &written);
  if (ret == 1 && written == bytes.size()) return true;
  v.error = SslFailure(ssl, ret, stage);
  return false;
}

// Reads until the CONNECT response is complete; bytes after it start the echo.
bool ReadResponse(SSL* ssl, Verdict& v, std::string& early) {
  ferry::tunnel::ConnectResponseParser parser;
  char buf[4096];
  for (;;) {
    size_t got = 0;
    int ret = SSL_read_ex(ssl, buf, sizeof(buf), &got);
    if (ret != 1) {
      // The server judged our certificate (or dropped us) after our side of the handshake.
      v.handshake_ok = false;
      v.error = SslFailure(ssl, ret, "reading CONNECT response");
      return false;
    }
    auto r = parser.Feed(std::string_view(buf, got));
    if (!r.ok()) {
      v.error = "bad CONNECT response: " + r.error().Message();
      return false;
    }
    if (r.value()) {
      v.status = r.value()->status;
      v.reason = r.value()->reason;
      early.assign(buf + parser.payload_offset(), got - parser.payload_offset());
      return true;
    }
  }
}

// Whatever comes back within the timeout, up to the marker's length.
std::string ReadEcho(SSL* ssl, std::string echo, size_t want) {
  char buf[4096];
  while (echo.size() < want) {
    size_t got = 0;
    if (SSL_read_ex(ssl, buf, std::min(sizeof(buf), want - echo.size()), &got) != 1) break;
    echo.append(buf, got);
  }
  ERR_clear_error();
  return echo;
}

void RunTunnel(SSL* ssl, const Options& o, Verdict& v) {
  int ret = SSL_connect(ssl);
  v.peer_uri = PeerUri(ssl);
  if (X509* peer = SSL_get0_peer_certificate(ssl)) v.peer_serial = ferry::identity::SerialHex(peer);
  if (ret != 1) {
    v.error = SslFailure(ssl, ret, "handshake");
    return;
  }
  v.handshake_ok = true;
  std::string early;
  if (!WriteAll(ssl, ferry::tunnel::BuildConnectRequest(o.target), v, "sending CONNECT")) {
    // A server refusing our certificate may have closed (and reset us, our CONNECT unread) before
    // the write: its alert can still be waiting in the receive queue and says why.
    std::string write_error = v.error;
    ReadResponse(ssl, v, early);
    v.handshake_ok = false;
    v.status = 0;
    if (v.error.find("alert") == std::string::npos) v.error = write_error;
    return;
  }
  if (!ReadResponse(ssl, v, early)) return;
  if (o.send.empty() || v.status != 200) return;
  if (!WriteAll(ssl, o.send, v, "sending marker")) return;
  v.echo = ReadEcho(ssl, std::move(early), o.send.size());
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Options o;
  if (auto why = ParseArgs(argc, argv, o)) return Usage(*why);
  Verdict v;
  std::string setup_error;
  auto ctx = MakeContext(o, setup_error);
  if (!ctx) return Usage(setup_error);
  auto fd = TcpConnect(o, v.error);
  if (!fd) {
    v.Print();
    return 0;
  }
  v.tcp_ok = true;
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd->get()) != 1) {
    v.error = TakeSslErrors("SSL_new");
    v.Print();
    return 0;
  }
  RunTunnel(ssl.get(), o, v);
  if (v.handshake_ok && v.status != 0) SSL_shutdown(ssl.get());
  v.Print();
  return 0;
}
