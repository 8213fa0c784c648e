// Persists the enrolled pods so a restarted agent re-opens their listeners without the pods being
// re-created (their netns files under /var/run/netns outlive the agent).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/inpod/pod_registry.h"
#include "common/result.h"

namespace ferry::inpod {

// One pod as JSON ({namespace, name, serviceAccount, ip, netns}): the shape of the state file and
// of the enrollment API alike.
nlohmann::json PodSpecToJson(const PodSpec& pod);
std::string PodSpecsToJson(const std::vector<PodSpec>& pods);
Result<std::vector<PodSpec>> PodSpecsFromJson(const std::string& text);

// Atomic replace (write to a temporary file, fsync, rename).
Result<void> SavePodState(const std::string& path, const std::vector<PodSpec>& pods);
// A missing file is an empty list; a corrupt one is an error (the agent refuses to guess).
Result<std::vector<PodSpec>> LoadPodState(const std::string& path);

}  // namespace ferry::inpod
