// Serves the enrollment API on a Unix socket. Root only: the socket is created 0600 and every
// client's SO_PEERCRED uid is checked, since enrolling a pod changes what its traffic may do.
// Runs on its own thread (control path, never the data path); requests are handled one at a time,
// which also serialises enrollment changes.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "agent/enroll/enroll_protocol.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::enroll {

class EnrollServer {
 public:
  // handler returns the reply line for a parsed request.
  using Handler = std::function<std::string(const Request&)>;

  static Result<std::unique_ptr<EnrollServer>> Start(const std::string& socket_path, Handler handler);
  ~EnrollServer();
  EnrollServer(const EnrollServer&) = delete;
  EnrollServer& operator=(const EnrollServer&) = delete;

 private:
  EnrollServer(std::string path, UniqueFd listener, UniqueFd stop_event, Handler handler);
  void Run();
  void Serve(int client_fd);

  std::string path_;
  UniqueFd listener_;
  UniqueFd stop_event_;
  Handler handler_;
  std::thread thread_;
};

}  // namespace ferry::enroll
