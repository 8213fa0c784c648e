#include "controlplane/server/controller_status.h"

#include "common/atomic_file.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"

namespace ferry::controlplane {
namespace {

using nlohmann::json;

json RejectionJson(const ReportedRejection& r) {
  json out = {
      {"file", r.rejection.origin.source},
      {"line", r.rejection.origin.line},
      {"kind", r.rejection.kind},
      {"namespace", r.rejection.ns},
      {"name", r.rejection.name},
      {"reason", r.rejection.reason},
      {"code", r.rejection.code},
      {"message", r.Message()},
      {"keptLastGood", r.kept_from.has_value() || !r.kept_from_file.empty()},
  };
  if (r.kept_from) out["keptFrom"] = r.kept_from->ToString();
  return out;
}

json NodeJson(const NodeStatus& n) {
  return {
      {"node", n.node},
      {"version", n.version},
      {"streams", n.streams},
      {"ackedVersion", n.acked_version},
      {"nackedVersion", n.nacked_version},
      {"nackError", n.nack_error},
      {"agentVersion", n.agent_version},
      {"snapshotsSent", n.snapshots_sent},
      {"acks", n.acks},
      {"nacks", n.nacks},
  };
}

}  // namespace

std::string RenderStatusJson(const ControllerStatus& status) {
  json rejections = json::array();
  for (const ReportedRejection& r : status.rejections) rejections.push_back(RejectionJson(r));
  json kept = json::array();
  for (const KeptResource& k : status.kept) {
    kept.push_back({{"kind", k.key.kind}, {"namespace", k.key.ns}, {"name", k.key.name}, {"from", k.origin.ToString()}});
  }
  json nodes = json::array();
  for (const NodeStatus& n : status.nodes) nodes.push_back(NodeJson(n));
  json out = {
      {"manifestDir", status.manifest_dir},
      {"listen", status.listen_address},
      {"meshName", status.mesh_name},
      {"reloads", status.reloads},
      {"reloadFailures", status.reload_failures},
      {"rejectedTotalByCode", status.rejected_total_by_code},
      {"lastError", status.last_error},
      {"monitoredNamespaces", status.monitored_namespaces},
      {"rejections", std::move(rejections)},
      {"kept", std::move(kept)},
      {"nodes", std::move(nodes)},
      {"trustDomain", status.trust_domain},
      {"certificates",
       {{"signed", status.certificates.signed_count},
        {"refused", status.certificates.refused_count},
        {"refusedByReason", status.certificates.refused_by_reason},
        {"lastRefusal", status.certificates.last_refusal}}},
  };
  return out.dump(2) + "\n";
}

StatusFileWriter::StatusFileWriter(std::filesystem::path path, std::function<ControllerStatus()> collect)
    : path_(std::move(path)), collect_(std::move(collect)), thread_([this] { Run(); }) {}

StatusFileWriter::~StatusFileWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void StatusFileWriter::MarkDirty() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_one();
}

void StatusFileWriter::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return dirty_ || stopping_; });
    if (dirty_) {
      dirty_ = false;
      lock.unlock();
      Result<void> written = WriteFileAtomically(path_, RenderStatusJson(collect_()));
      if (!written.ok()) spdlog::warn("status file: {}", written.error().Message());
      lock.lock();
      continue;  // a change may have come in while writing
    }
    if (stopping_) return;
  }
}

}  // namespace ferry::controlplane
