#include "controller_fixture.h"

#include "secure_channel.h"

#include <stdlib.h>

#include <fstream>
#include <thread>

namespace ferry::controlplane::testing {

TempDir::TempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "ferry-cphelper-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::Write(const std::string& name, const std::string& content) const {
  const std::filesystem::path target = path_ / name;
  std::filesystem::create_directories(target.parent_path());
  const std::filesystem::path tmp = target.parent_path() / ("." + target.filename().string() + ".swp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  std::filesystem::rename(tmp, target);
}

void TempDir::WriteInPlace(const std::string& name, const std::string& content) const {
  std::ofstream out(path_ / name, std::ios::binary | std::ios::trunc);
  out << content;
}

xds::PolicyClient::ApplyFn RecordingAgent::Callback() {
  return [this](const v1::PolicySnapshot& snapshot) -> Result<void> {
    std::lock_guard lock(mu_);
    snapshots_.push_back(snapshot);
    if (refusal_) {
      if (std::optional<std::string> reason = refusal_(snapshot)) return MakeError(*reason);
    }
    last_accepted_ = snapshot.version();
    return Ok();
  };
}

void RecordingAgent::RefuseWhen(Refusal refusal) {
  std::lock_guard lock(mu_);
  refusal_ = std::move(refusal);
}

std::vector<v1::PolicySnapshot> RecordingAgent::Snapshots() const {
  std::lock_guard lock(mu_);
  return snapshots_;
}

size_t RecordingAgent::Count() const {
  std::lock_guard lock(mu_);
  return snapshots_.size();
}

uint64_t RecordingAgent::LastVersion() const {
  std::lock_guard lock(mu_);
  return last_accepted_;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

ControllerOptions TestControllerOptions(const TempDir& dir, const std::string& listen) {
  ControllerOptions options;
  options.manifest_dir = dir.path();
  options.listen_address = listen;
  options.status_file = dir.path() / ".ferry-status.json";
  // Identity, as every controller now needs it: a root generated into the test directory and
  // tokens for the test nodes.
  options.ca.ca_dir = dir.path() / ".ferry-ca";
  options.node_tokens_file = dir.path() / ".ferry-node-tokens.json";
  WriteTestNodeTokens(options.node_tokens_file);
  return options;
}

xds::PolicyClientOptions TestClientOptions(const std::string& address, const std::string& node,
                                           const std::string& trust_bundle_pem) {
  xds::PolicyClientOptions options;
  options.controller_address = address;
  options.channel_factory = NodeChannelFactory(node, trust_bundle_pem);
  options.node_name = node;
  options.initial_backoff = std::chrono::milliseconds(20);
  options.max_backoff = std::chrono::milliseconds(300);
  return options;
}

xds::PolicyClientOptions TestClientOptions(const Controller& controller, const std::string& node) {
  return TestClientOptions(controller.address(), node, controller.ca().trust_bundle_pem);
}

bool HasAuthorization(const v1::PolicySnapshot& snapshot, const std::string& name) {
  for (const auto& a : snapshot.authorizations()) {
    if (a.name() == name) return true;
  }
  return false;
}

std::optional<NodeStatus> FindNode(const ControllerStatus& status, const std::string& node) {
  for (const NodeStatus& n : status.nodes) {
    if (n.node == node) return n;
  }
  return std::nullopt;
}

}  // namespace ferry::controlplane::testing
