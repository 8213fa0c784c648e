#include "examples/apps/http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <system_error>
#include <thread>

#include "common/unique_fd.h"
#include "examples/apps/net.h"

namespace ferry::example {

namespace {

void ServeConnection(UniqueFd fd, const RequestHandler& handler, ServerOptions options) {
  SetIoTimeout(fd.get(), options.idle_timeout);
  HttpReader reader(MessageKind::kRequest);
  while (true) {
    auto request = reader.Read(fd.get());
    if (!request.ok()) {
      if (request.error().code == EPROTO) {
        (void)SendAll(fd.get(), RenderResponse(400, "text/plain; charset=utf-8",
                                               request.error().Message() + "\n", {}, false));
      }
      return;
    }
    if (!request->has_value()) return;  // the client closed
    const HttpMessage& req = **request;
    Reply reply = handler(req);
    if (!SendAll(fd.get(), RenderReply(req, reply, req.keep_alive)).ok() || !req.keep_alive) return;
  }
}

}  // namespace

std::string RenderReply(const HttpMessage& request, const Reply& reply, bool keep_alive) {
  std::string bytes = RenderResponse(reply.status, reply.content_type, reply.body, reply.headers, keep_alive);
  if (request.method == "HEAD") bytes.resize(bytes.size() - reply.body.size());
  return bytes;
}

Result<void> ServeForever(int listen_fd, RequestHandler handler, ServerOptions options) {
  auto shared = std::make_shared<RequestHandler>(std::move(handler));
  while (true) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Transient: the peer gave up before we accepted, or we are short of fds for a moment.
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE || errno == ENOBUFS) {
        if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      return ErrnoError("accept");
    }
    try {
      std::thread([fd, shared, options] { ServeConnection(UniqueFd(fd), *shared, options); }).detach();
    } catch (const std::system_error&) {
      ::close(fd);  // out of threads for now: refuse this connection, keep serving the others
    }
  }
}

}  // namespace ferry::example
