#include "cli/stop_signals.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

namespace ferry::cli {

Result<UniqueFd> BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (int e = pthread_sigmask(SIG_BLOCK, &set, nullptr); e != 0) return MakeError("block SIGINT/SIGTERM", e);
  UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) return ErrnoError("signalfd");
  return fd;
}

bool StopRequested(int signals, std::chrono::milliseconds wait) {
  pollfd p{signals, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) > 0 && (p.revents & POLLIN) != 0;
}

}  // namespace ferry::cli
