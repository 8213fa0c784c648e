// ferry-controller's Prometheus metrics, rendered from the same ControllerStatus its status file
// is written from: reloads, rejected resources (now, and cumulative by reason code), per-node
// snapshots served, ACKs and NACKs (cumulative) and versions, and the certificates it signed or
// refused. Every label value is from a bounded set (node names, fixed kinds and reasons).
#pragma once

#include <string>

#include "controlplane/server/controller_status.h"

namespace ferry::metrics {

// Text exposition format 0.0.4.
std::string RenderControllerMetrics(const controlplane::ControllerStatus& status);

}  // namespace ferry::metrics
