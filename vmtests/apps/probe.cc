// ferry-probe: the application that privileged tests run inside pods. Every subcommand prints one
// JSON line describing what the application itself observed, so tests assert on what a user's
// program would see.
//
//   serve   --port P [--no-read] [--events FILE]  echo server (or a sink that never reads); appends
//                                                  one JSON line per accepted connection to FILE
//   send    --to IP:PORT --bytes N [--marker S]    sends N bytes (S first, in its own write), reads
//                                                  the echo, compares SHA-256
//   connect --to IP:PORT [--timeout-ms T]          outcome of connect + 1-byte echo: ok|refused|reset|timeout|eof|error
//   hold    --to IP:PORT --seconds S [--final-echo 1]  echoes a byte, then waits for the connection to
//                                                  end (with --final-echo: echoes another byte at S)
//   many    --to IP:PORT --count N --bytes B       opens N connections at once, echoes B bytes on each
//   blast   --to IP:PORT --bytes N --stall-ms T    sends until N bytes or the send stalls for T ms
//   rawsyn  --src IP --to IP:PORT                  sends one TCP SYN with a forged source address
//   connect6 --to [IP6]:PORT                       IPv6 connect outcome
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::map<std::string, std::string> ParseFlags(int argc, char** argv, int first) {
  std::map<std::string, std::string> flags;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) flags[a.substr(2)] = argv[++i];
    else flags[a.substr(2)] = "1";
  }
  return flags;
}

// HOST:PORT where HOST is a dotted quad or a name (resolved through /etc/hosts, which a local
// cluster's pod sees with its service entries).
sockaddr_in ParseEndpoint(const std::string& s) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  auto colon = s.rfind(':');
  std::string host = s.substr(0, colon);
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(s.substr(colon + 1))));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) == 1) return sa;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr)
    throw std::runtime_error("cannot resolve " + host);
  sa.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return sa;
}

std::string Format(const sockaddr_in& sa) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(sa.sin_port));
}

std::string ErrnoName(int e) {
  switch (e) {
    case ECONNREFUSED: return "refused";
    case ECONNRESET: case EPIPE: return "reset";
    case ETIMEDOUT: case EAGAIN: return "timeout";
    case EPERM: case EACCES: return "eperm";
    case ENETUNREACH: case EHOSTUNREACH: return "unreachable";
    default: return std::string("error:") + strerror(e);
  }
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void Update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  std::string Hex() {
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    std::string out;
    char b[3];
    for (unsigned i = 0; i < len; ++i) { snprintf(b, sizeof(b), "%02x", md[i]); out += b; }
    return out;
  }
 private:
  EVP_MD_CTX* ctx_;
};

int Connect(const sockaddr_in& to, int timeout_ms, std::string* outcome) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
    *outcome = ErrnoName(errno == EINPROGRESS ? ETIMEDOUT : errno);
    close(fd);
    return -1;
  }
  return fd;
}

// Reads exactly n bytes or reports why not.
std::string ReadExact(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r == 0) return "eof";
    if (r < 0) return ErrnoName(errno);
    got += static_cast<size_t>(r);
  }
  return "ok";
}

int Serve(const std::map<std::string, std::string>& f) {
  int port = std::stoi(f.at("port"));
  bool no_read = f.count("no-read");
  std::string events = f.count("events") ? f.at("events") : "";
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(lfd, 4096) != 0) {
    perror("serve: bind/listen");
    return 1;
  }
  std::printf("{\"listening\":%d}\n", port);
  std::fflush(stdout);
  std::mutex mu;
  for (;;) {
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    int fd = accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    sockaddr_in local{};
    socklen_t llen = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    if (!events.empty()) {
      std::lock_guard lock(mu);
      std::ofstream(events, std::ios::app) << json{{"accept", Format(peer)}, {"local", Format(local)}}.dump() << "\n";
    }
    std::thread([fd, no_read] {
      if (no_read) { pause(); }
      std::vector<char> buf(65536);
      for (;;) {
        ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
          ssize_t w = send(fd, buf.data() + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) { close(fd); return; }
          off += w;
        }
      }
      close(fd);
    }).detach();
  }
}

int Send(const std::map<std::string, std::string>& f) {
  auto to = ParseEndpoint(f.at("to"));
  size_t total = std::stoull(f.at("bytes"));
  std::string outcome = "ok";
  int fd = Connect(to, 10000, &outcome);
  json out{{"to", f.at("to")}};
  if (fd < 0) { out["outcome"] = outcome; std::puts(out.dump().c_str()); return 1; }
  sockaddr_in peer{};
  socklen_t len = sizeof(peer);
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
  out["peername"] = Format(peer);
  Sha256 sent_hash, recv_hash;
  size_t received = 0;
  std::string recv_outcome = "ok";
  std::thread reader([&] {
    std::vector<char> buf(65536);
    while (received < total) {
      ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) { recv_outcome = n == 0 ? "eof" : ErrnoName(errno); return; }
      recv_hash.Update(buf.data(), static_cast<size_t>(n));
      received += static_cast<size_t>(n);
    }
  });
  std::mt19937_64 rng(total);
  std::vector<char> chunk(65536);
  size_t sent = 0;
  std::string send_outcome = "ok";
  // A known string in one small write first, so a capture can look for it in a single packet.
  if (auto marker = f.find("marker"); marker != f.end() && !marker->second.empty()) {
    const std::string& m = marker->second;
    size_t n = std::min(m.size(), total);
    sent_hash.Update(m.data(), n);
    if (send(fd, m.data(), n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) send_outcome = ErrnoName(errno);
    sent = n;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // its own segment, not coalesced
  }
  while (sent < total && send_outcome == "ok") {
    size_t n = std::min(chunk.size(), total - sent);
    for (size_t i = 0; i < n; i += 8) { uint64_t v = rng(); std::memcpy(&chunk[i], &v, std::min<size_t>(8, n - i)); }
    sent_hash.Update(chunk.data(), n);
    for (size_t off = 0; off < n;) {
      ssize_t w = send(fd, chunk.data() + off, n - off, MSG_NOSIGNAL);
      if (w <= 0) { send_outcome = ErrnoName(errno); break; }
      off += static_cast<size_t>(w);
    }
    if (send_outcome != "ok") break;
    sent += n;
  }
  shutdown(fd, SHUT_WR);
  reader.join();
  close(fd);
  std::string sh = sent_hash.Hex(), rh = recv_hash.Hex();
  bool intact = send_outcome == "ok" && recv_outcome == "ok" && sh == rh && received == total;
  out.update({{"outcome", intact ? "ok" : (send_outcome != "ok" ? send_outcome : recv_outcome)},
              {"sent", sent}, {"received", received}, {"sha_sent", sh}, {"sha_received", rh}, {"intact", intact}});
  std::puts(out.dump().c_str());
  return intact ? 0 : 1;
}

int ConnectOnce(const std::map<std::string, std::string>& f) {
  auto to = ParseEndpoint(f.at("to"));
  int timeout = f.count("timeout-ms") ? std::stoi(f.at("timeout-ms")) : 3000;
  std::string outcome = "ok";
  int fd = Connect(to, timeout, &outcome);
  if (fd >= 0) {
    char c = 'x';
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) outcome = ErrnoName(errno);
    else outcome = ReadExact(fd, &c, 1);
    close(fd);
  }
  std::puts(json{{"to", f.at("to")}, {"outcome", outcome}}.dump().c_str());
  return outcome == "ok" ? 0 : 1;
}

int Hold(const std::map<std::string, std::string>& f) {
  auto to = ParseEndpoint(f.at("to"));
  int seconds = std::stoi(f.at("seconds"));
  std::string outcome = "ok";
  int fd = Connect(to, 5000, &outcome);
  if (fd >= 0) {
    char c = 'h';
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1 || ReadExact(fd, &c, 1) != "ok") outcome = "first-echo-failed";
  }
  std::printf("%s\n", json{{"established", outcome == "ok"}}.dump().c_str());
  std::fflush(stdout);
  if (fd >= 0 && outcome == "ok") {
    auto start = Clock::now();
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, seconds * 1000);
    if (r == 0) {
      outcome = "still-open";
      // --final-echo: the connection must also still carry bytes, not merely be open.
      if (f.count("final-echo")) {
        char z = 'z';
        bool echoed = send(fd, &z, 1, MSG_NOSIGNAL) == 1 && ReadExact(fd, &z, 1) == "ok" && z == 'z';
        outcome = echoed ? "still-open-echo-ok" : "final-echo-failed";
      }
    } else {
      char c;
      ssize_t n = recv(fd, &c, 1, 0);
      outcome = n == 0 ? "eof" : (n < 0 ? ErrnoName(errno) : "data");
    }
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::puts(json{{"outcome", outcome}, {"after_ms", ms}}.dump().c_str());
    close(fd);
  }
  return 0;
}

int Many(const std::map<std::string, std::string>& f) {
  auto to = ParseEndpoint(f.at("to"));
  int count = std::stoi(f.at("count"));
  size_t bytes = std::stoull(f.at("bytes"));
  std::vector<int> fds;
  int failed_connect = 0, intact = 0, broken = 0;
  for (int i = 0; i < count; ++i) {
    std::string outcome;
    int fd = Connect(to, 10000, &outcome);
    if (fd < 0) { ++failed_connect; continue; }
    fds.push_back(fd);
  }
  // All connections are open at once; now exchange data on each.
  for (size_t i = 0; i < fds.size(); ++i) {
    std::vector<char> out(bytes), in(bytes);
    for (size_t j = 0; j < bytes; ++j) out[j] = static_cast<char>((i * 31 + j) & 0xff);
    bool ok = send(fds[i], out.data(), bytes, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes) &&
              ReadExact(fds[i], in.data(), bytes) == "ok" && in == out;
    ok ? ++intact : ++broken;
  }
  if (f.count("hold-ms")) std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(f.at("hold-ms"))));
  for (int fd : fds) close(fd);
  std::puts(json{{"count", count}, {"intact", intact}, {"broken", broken}, {"failed_connect", failed_connect}}.dump().c_str());
  return intact == count ? 0 : 1;
}

int Blast(const std::map<std::string, std::string>& f) {
  auto to = ParseEndpoint(f.at("to"));
  size_t total = std::stoull(f.at("bytes"));
  int stall_ms = std::stoi(f.at("stall-ms"));
  std::string outcome = "ok";
  int fd = Connect(to, 5000, &outcome);
  if (fd < 0) { std::puts(json{{"outcome", outcome}}.dump().c_str()); return 1; }
  fcntl(fd, F_SETFL, O_NONBLOCK);
  std::vector<char> chunk(65536, 'b');
  size_t sent = 0;
  while (sent < total) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, stall_ms) == 0) { outcome = "stalled"; break; }
    ssize_t w = send(fd, chunk.data(), std::min(chunk.size(), total - sent), MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) { outcome = ErrnoName(errno); break; }
    if (w > 0) sent += static_cast<size_t>(w);
  }
  std::printf("%s\n", json{{"outcome", outcome}, {"sent", sent}}.dump().c_str());
  std::fflush(stdout);
  if (f.count("hold-ms")) std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(f.at("hold-ms"))));
  close(fd);
  return 0;
}

uint16_t Checksum(const void* data, size_t len, uint32_t sum = 0) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

int RawSyn(const std::map<std::string, std::string>& f) {
  auto to = ParseEndpoint(f.at("to"));
  in_addr src{};
  inet_pton(AF_INET, f.at("src").c_str(), &src);
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) { std::puts(json{{"outcome", ErrnoName(errno)}}.dump().c_str()); return 1; }
  struct { iphdr ip; tcphdr tcp; } pkt{};
  pkt.ip.ihl = 5; pkt.ip.version = 4; pkt.ip.ttl = 64; pkt.ip.protocol = IPPROTO_TCP;
  pkt.ip.tot_len = htons(sizeof(pkt)); pkt.ip.saddr = src.s_addr; pkt.ip.daddr = to.sin_addr.s_addr;
  pkt.tcp.source = htons(40000 + static_cast<uint16_t>(getpid() % 20000)); pkt.tcp.dest = to.sin_port;
  pkt.tcp.seq = htonl(12345); pkt.tcp.doff = 5; pkt.tcp.syn = 1; pkt.tcp.window = htons(65535);
  struct { uint32_t s, d; uint8_t z, p; uint16_t l; } pseudo{pkt.ip.saddr, pkt.ip.daddr, 0, IPPROTO_TCP, htons(sizeof(tcphdr))};
  std::vector<uint8_t> buf(sizeof(pseudo) + sizeof(tcphdr));
  std::memcpy(buf.data(), &pseudo, sizeof(pseudo));
  std::memcpy(buf.data() + sizeof(pseudo), &pkt.tcp, sizeof(tcphdr));
  pkt.tcp.check = htons(Checksum(buf.data(), buf.size()));
  ssize_t n = sendto(fd, &pkt, sizeof(pkt), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  std::puts(json{{"outcome", n == static_cast<ssize_t>(sizeof(pkt)) ? "sent" : ErrnoName(errno)}}.dump().c_str());
  return n == static_cast<ssize_t>(sizeof(pkt)) ? 0 : 1;
}

int Connect6(const std::map<std::string, std::string>& f) {
  std::string s = f.at("to");
  auto close_bracket = s.find(']');
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  inet_pton(AF_INET6, s.substr(1, close_bracket - 1).c_str(), &sa.sin6_addr);
  sa.sin6_port = htons(static_cast<uint16_t>(std::stoi(s.substr(close_bracket + 2))));
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string outcome = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 ? "ok" : ErrnoName(errno);
  close(fd);
  std::puts(json{{"to", s}, {"outcome", outcome}}.dump().c_str());
  return outcome == "ok" ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) { std::fputs("usage: ferry-probe serve|send|connect|hold|many|blast|rawsyn|connect6 ...\n", stderr); return 2; }
  std::string cmd = argv[1];
  auto f = ParseFlags(argc, argv, 2);
  try {
    if (cmd == "serve") return Serve(f);
    if (cmd == "send") return Send(f);
    if (cmd == "connect") return ConnectOnce(f);
    if (cmd == "hold") return Hold(f);
    if (cmd == "many") return Many(f);
    if (cmd == "blast") return Blast(f);
    if (cmd == "rawsyn") return RawSyn(f);
    if (cmd == "connect6") return Connect6(f);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-probe %s: bad arguments: %s\n", cmd.c_str(), e.what());
    return 2;
  }
  std::fprintf(stderr, "ferry-probe: unknown command %s\n", cmd.c_str());
  return 2;
}
