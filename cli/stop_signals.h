// SIGINT and SIGTERM for ferryctl's long-running verbs (port-forward, dashboard): blocked in the
// calling thread before any other thread starts, so every thread inherits the mask and the
// signals are read from an fd instead of killing the process mid-relay or mid-request.
#pragma once

#include <chrono>

#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::cli {

// Blocks SIGINT and SIGTERM and returns them as a readable (non-blocking) signalfd.
Result<UniqueFd> BlockStopSignals();
// True when a stop signal is pending on `signals` within `wait`.
bool StopRequested(int signals, std::chrono::milliseconds wait);

}  // namespace ferry::cli
