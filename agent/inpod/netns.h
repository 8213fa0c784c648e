// Network namespaces: opening them, reading their cookie, and creating sockets inside them.
//
// Sockets keep the netns they were created in, so the agent creates a pod's listeners and its
// upstream sockets by switching only the calling thread into the pod's netns for the socket() call
// (setns on one thread is allowed in a multi-threaded process for CLONE_NEWNET) and back.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/ipv4.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::inpod {

// Opens a netns file (e.g. /var/run/netns/<name> or /proc/<pid>/ns/net).
Result<UniqueFd> OpenNetns(const std::string& path);

// Runs fn with the calling thread inside netns_fd, then returns the thread to its previous netns.
// If returning fails the thread is in an unknown netns: that is unrecoverable, so it aborts.
Result<void> RunInNetns(int netns_fd, const std::function<void()>& fn);

// SO_NETNS_COOKIE of the namespace (what bpf_get_netns_cookie() returns for its sockets).
Result<uint64_t> NetnsCookie(int netns_fd);

enum class SocketRole { kListener, kUpstream };

// A TCP socket created inside netns_fd, non-blocking and close-on-exec, marked FERRY_AGENT_MARK
// so the agent's own connects are never captured again.
Result<UniqueFd> CreateTcpSocketIn(int netns_fd);

// A listener bound to `local` inside netns_fd (IP_FREEBIND: the pod address may not be up yet
// when the agent restarts before the CNI re-adds it).
Result<UniqueFd> CreateListenerIn(int netns_fd, Ipv4Endpoint local, int backlog);

}  // namespace ferry::inpod
