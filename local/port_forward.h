// `ferryctl local port-forward`: a listener on the host's loopback whose connections are relayed to
// a port of a pod, dialled from inside the pod's network namespace (to 127.0.0.1:PORT there, as
// kubelet does). Only the socket is created in the pod's netns, by a short-lived thread; the
// calling threads never change namespace.
//
// Ferry's datapath leaves these connections alone: connect4/connect6 run only for sockets created
// by processes in the pods' cgroups (ferryctl is not in one) and pass loopback destinations anyway,
// and the pod netns's sk_lookup passes connections whose local address is loopback.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/ipv4.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::local {

struct PortMapping {
  uint16_t local_port = 0;  // 0 = a free port chosen by the kernel
  uint16_t remote_port = 0;
};

// "8080:80", "8080" (the same port on both sides), ":80" or "0:80" (a free local port).
Result<PortMapping> ParsePortMapping(std::string_view text);
// The --address value: "localhost" or an IPv4 loopback address (127.0.0.0/8); anything else is
// refused, so a forwarded pod port is never exposed beyond this machine.
Result<uint32_t> ParseLoopbackAddress(std::string_view text);

// Where forwarded connections go: a factory for a non-blocking TCP socket in the right network
// namespace, and the address to connect it to there.
struct ForwardTarget {
  std::function<Result<UniqueFd>()> make_socket;
  Ipv4Endpoint endpoint;
  std::string description;  // for messages, e.g. "pod shop/api-0 port 80"
};

// A non-blocking TCP socket created inside the network namespace `netns_fd` refers to.
Result<UniqueFd> SocketInNetns(int netns_fd);
// 127.0.0.1:port inside the network namespace at netns_path (opened once, kept open).
Result<ForwardTarget> NetnsLoopbackTarget(const std::string& netns_path, uint16_t port,
                                          std::string description);

struct ForwarderOptions {
  Ipv4Endpoint listen;  // port 0 = any free port
  ForwardTarget target;
  size_t max_connections = 256;  // further connections are closed at once, with an error reported
  std::function<void(const std::string&)> on_connection;  // "Handling connection for PORT"
  std::function<void(const std::string&)> on_error;       // a connection that could not be forwarded
};

class PortForwarder {
 public:
  // Binds and listens; fails clearly when the address is in use.
  static Result<std::unique_ptr<PortForwarder>> Listen(ForwarderOptions options);
  ~PortForwarder();
  PortForwarder(const PortForwarder&) = delete;
  PortForwarder& operator=(const PortForwarder&) = delete;

  Ipv4Endpoint local_endpoint() const { return local_; }
  // Accepts and relays until Stop() is called or `stop_fd` (if >= 0) becomes readable; then closes
  // every forwarded connection and returns.
  Result<void> Run(int stop_fd = -1);
  void Stop();  // from any thread

 private:
  struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  PortForwarder(ForwarderOptions options, UniqueFd listener, UniqueFd stop_event, Ipv4Endpoint local);
  void AcceptOne();
  void Forward(UniqueFd client);
  void ReapFinished(bool all);
  void Report(const std::function<void(const std::string&)>& sink, const std::string& message);

  ForwarderOptions options_;
  UniqueFd listener_;
  UniqueFd stop_event_;  // an eventfd: readable once stopping, polled by every connection
  Ipv4Endpoint local_;
  std::list<std::unique_ptr<Connection>> connections_;  // touched by Run's thread only
  std::mutex report_mu_;
};

}  // namespace ferry::local
