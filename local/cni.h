// A minimal CNI runtime: executes the plugins of a network configuration list in order, as the
// CNI spec describes (ADD in order with prevResult chained, DEL in reverse, CHECK in order), with
// the real plugin binaries (Debian's containernetworking-plugins: bridge, host-local, ...) and,
// from the control-plane issue on, ferry-cni chained after them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace ferry::local {

struct CniAttachment {
  std::string container_id;
  std::string netns_path;
  std::string ifname = "eth0";
  std::string args;  // CNI_ARGS, e.g. "K8S_POD_NAMESPACE=app;K8S_POD_NAME=a"
};

struct CniResult {
  nlohmann::json raw;
  uint32_t ip = 0;       // host byte order: the first IPv4 address assigned
  int prefix_length = 0;
  uint32_t gateway = 0;  // host byte order, 0 if none
};

class CniRuntime {
 public:
  // plugin_dirs: where plugin binaries live, searched in order and passed on as CNI_PATH (a
  // chained plugin such as ferry-cni may live apart from the distribution's). exec_netns: netns path the plugins run in (the
  // "host" side of the attachment: the local node), empty = the caller's. cache_dir: where ADD
  // results are kept for DEL/CHECK.
  CniRuntime(std::vector<std::string> plugin_dirs, std::string exec_netns, std::string cache_dir);

  Result<CniResult> Add(const nlohmann::json& conflist, const CniAttachment& attachment);
  // Idempotent: a missing cached result or an already-removed attachment is not an error.
  Result<void> Del(const nlohmann::json& conflist, const CniAttachment& attachment);
  Result<void> Check(const nlohmann::json& conflist, const CniAttachment& attachment);

 private:
  Result<nlohmann::json> Invoke(const std::string& command, const nlohmann::json& conflist,
                                const nlohmann::json& plugin, const nlohmann::json& prev_result,
                                const CniAttachment& attachment);
  std::string CachePath(const nlohmann::json& conflist, const CniAttachment& attachment) const;

  Result<std::string> FindPlugin(const std::string& type) const;

  std::vector<std::string> plugin_dirs_;
  std::string exec_netns_;
  std::string cache_dir_;
};

// Reads the first IPv4 address and gateway out of a CNI result (spec 0.4.0 / 1.0.0 layout).
Result<CniResult> ParseCniResult(const nlohmann::json& raw);

}  // namespace ferry::local
