// ferry-controller's Prometheus metrics, rendered from the same ControllerStatus its status file
// is written from: reloads, rejected resources, per-node snapshot/ACK/NACK state, and the
// certificates it signed or refused.
#pragma once

#include <string>

#include "controlplane/server/controller_status.h"

namespace ferry::metrics {

// Text exposition format 0.0.4.
std::string RenderControllerMetrics(const controlplane::ControllerStatus& status);

}  // namespace ferry::metrics
