#include "controlplane/server/discovery_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace ferry::controlplane {
namespace {

using Reactor = grpc::ServerBidiReactor<v1::PolicyRequest, v1::PolicyResponse>;

constexpr size_t kMaxUnanswered = 16;

// The state of one agent stream. The publisher holds it by shared_ptr and may push from its own
// thread at any time, even after gRPC has finished the stream, so it must outlive the reactor:
// `reactor_` is cleared in Done() and every use of it happens while a write is marked in
// flight, which keeps gRPC from completing the stream (and deleting the reactor) meanwhile.
// gRPC may run a reaction inline inside StartWrite/Finish, so they are never called under mu_.
class StreamSession final : public SnapshotSubscriber, public std::enable_shared_from_this<StreamSession> {
 public:
  // `authenticated_node`: the node the call's token belongs to (empty: none).
  StreamSession(SnapshotPublisher& publisher, Reactor* reactor, std::string peer, std::string authenticated_node)
      : publisher_(publisher), authenticated_node_(std::move(authenticated_node)), reactor_(reactor), peer_(std::move(peer)) {}

  v1::PolicyRequest* request() { return &request_; }

  void OnSnapshot(std::shared_ptr<const v1::PolicySnapshot> snapshot) override;
  void ReadDone(bool ok);
  void WriteDone(bool ok);
  void Done();

 private:
  void HandleFirstRequest();
  void HandleAnswer();
  void ReadNext();
  // Starts the next write if one is pending and none is in flight; called with `lock` held,
  // releases it.
  void StartNextWrite(std::unique_lock<std::mutex>& lock);
  // Finishes the stream once reading is over and no write is in flight; releases `lock`.
  void MaybeFinish(std::unique_lock<std::mutex>& lock);
  void FailStream(grpc::Status status);

  SnapshotPublisher& publisher_;
  const std::string authenticated_node_;
  v1::PolicyRequest request_;  // owned by the read in flight; only the reading side touches it
  std::string node_;           // set by the first request, then constant
  bool subscribed_ = false;

  std::mutex mu_;
  Reactor* reactor_;  // null once gRPC is done with the stream
  const std::string peer_;
  std::shared_ptr<const v1::PolicySnapshot> pending_;  // newest snapshot not yet written
  uint64_t written_version_ = 0;
  uint64_t next_nonce_ = 0;
  // nonce -> version of the responses not yet ACKed/NACKed; bounded, so an agent that never
  // answers cannot grow it.
  std::deque<std::pair<std::string, uint64_t>> unanswered_;
  v1::PolicyResponse response_;                 // owned by the write in flight
  bool write_in_flight_ = false;
  bool reads_done_ = false;
  bool no_more_writes_ = false;
  bool finished_ = false;
  grpc::Status final_status_ = grpc::Status::OK;
};

void StreamSession::OnSnapshot(std::shared_ptr<const v1::PolicySnapshot> snapshot) {
  std::unique_lock lock(mu_);
  const uint64_t newest = std::max(written_version_, pending_ ? pending_->version() : 0);
  if (snapshot->version() <= newest) return;  // a stale push that lost a race with a newer one
  pending_ = std::move(snapshot);
  StartNextWrite(lock);
}

void StreamSession::StartNextWrite(std::unique_lock<std::mutex>& lock) {
  if (write_in_flight_ || no_more_writes_ || !pending_ || reactor_ == nullptr) return;
  response_.Clear();
  response_.set_version(pending_->version());
  response_.set_nonce(std::to_string(++next_nonce_));
  *response_.mutable_snapshot() = *pending_;
  unanswered_.emplace_back(response_.nonce(), pending_->version());
  if (unanswered_.size() > kMaxUnanswered) unanswered_.pop_front();
  written_version_ = pending_->version();
  pending_.reset();
  write_in_flight_ = true;
  Reactor* reactor = reactor_;
  lock.unlock();
  publisher_.RecordSent(node_);
  reactor->StartWrite(&response_);
}

void StreamSession::MaybeFinish(std::unique_lock<std::mutex>& lock) {
  if (!reads_done_ || write_in_flight_ || finished_ || reactor_ == nullptr) return;
  finished_ = true;
  no_more_writes_ = true;
  Reactor* reactor = reactor_;
  grpc::Status status = final_status_;
  lock.unlock();
  reactor->Finish(std::move(status));
}

void StreamSession::FailStream(grpc::Status status) {
  spdlog::warn("policy stream from {} (node \"{}\"): {}", peer_, node_, status.error_message());
  std::unique_lock lock(mu_);
  final_status_ = std::move(status);
  reads_done_ = true;  // no further read is started
  no_more_writes_ = true;
  MaybeFinish(lock);
}

void StreamSession::ReadDone(bool ok) {
  if (!ok) {  // the agent went away, or the server is shutting down
    std::unique_lock lock(mu_);
    reads_done_ = true;
    no_more_writes_ = true;
    MaybeFinish(lock);
    return;
  }
  if (!subscribed_) {
    HandleFirstRequest();
  } else {
    HandleAnswer();
  }
}

void StreamSession::HandleFirstRequest() {
  if (authenticated_node_.empty()) {  // TokenAuthProcessor rejects such calls before they get here
    return FailStream(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no valid node token"));
  }
  if (request_.node().empty()) {
    return FailStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first PolicyRequest must name the node"));
  }
  // A node's snapshot describes its pods and exemptions: only that node may fetch it.
  if (request_.node() != authenticated_node_) {
    return FailStream(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                   "the token authenticates node \"" + authenticated_node_ + "\", not \"" +
                                       request_.node() + "\""));
  }
  node_ = request_.node();
  subscribed_ = true;
  spdlog::info("agent for node \"{}\" connected from {} (enforcing version {})", node_, peer_,
               request_.version_applied());
  std::shared_ptr<const v1::PolicySnapshot> current =
      publisher_.Subscribe(node_, shared_from_this(), request_.agent_version());
  ReadNext();
  OnSnapshot(std::move(current));
}

void StreamSession::HandleAnswer() {
  if (!request_.node().empty() && request_.node() != node_) {
    return FailStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "node changed within a stream (\"" + node_ + "\" -> \"" + request_.node() + "\")"));
  }
  uint64_t version = 0;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(unanswered_.begin(), unanswered_.end(),
                           [&](const auto& entry) { return entry.first == request_.response_nonce(); });
    if (it != unanswered_.end()) {
      version = it->second;
      unanswered_.erase(it);
    }
  }
  if (version == 0) {
    spdlog::debug("node \"{}\": answer for unknown nonce \"{}\" ignored", node_, request_.response_nonce());
  } else if (request_.has_error_detail()) {
    spdlog::warn("node \"{}\" NACKed policy version {}: {} (still enforcing version {})", node_, version,
                 request_.error_detail().message(), request_.version_applied());
    publisher_.RecordNack(node_, version, request_.error_detail().message());
  } else {
    spdlog::debug("node \"{}\" ACKed policy version {}", node_, version);
    publisher_.RecordAck(node_, version);
  }
  ReadNext();
}

void StreamSession::ReadNext() {
  // Only called from a read reaction, during which gRPC cannot be done with the stream, so
  // reactor_ is live; request_ has been consumed.
  Reactor* reactor = nullptr;
  {
    std::lock_guard lock(mu_);
    reactor = reactor_;
  }
  reactor->StartRead(&request_);
}

void StreamSession::WriteDone(bool ok) {
  std::unique_lock lock(mu_);
  write_in_flight_ = false;
  if (!ok) no_more_writes_ = true;  // the stream is broken; the pending read will fail too
  if (!no_more_writes_ && pending_) return StartNextWrite(lock);
  MaybeFinish(lock);
}

void StreamSession::Done() {
  {
    std::lock_guard lock(mu_);
    reactor_ = nullptr;
  }
  if (subscribed_) {
    publisher_.Unsubscribe(node_, this);
    spdlog::info("agent for node \"{}\" at {} disconnected", node_, peer_);
  }
}

class PolicyStreamReactor final : public Reactor {
 public:
  PolicyStreamReactor(SnapshotPublisher& publisher, std::string peer, std::string authenticated_node)
      : session_(std::make_shared<StreamSession>(publisher, this, std::move(peer), std::move(authenticated_node))) {
    StartRead(session_->request());
  }

  void OnReadDone(bool ok) override { session_->ReadDone(ok); }
  void OnWriteDone(bool ok) override { session_->WriteDone(ok); }
  void OnDone() override {
    session_->Done();
    delete this;
  }

 private:
  std::shared_ptr<StreamSession> session_;
};

}  // namespace

grpc::ServerBidiReactor<v1::PolicyRequest, v1::PolicyResponse>* PolicyDiscoveryService::StreamPolicy(
    grpc::CallbackServerContext* context) {
  return new PolicyStreamReactor(publisher_, context->peer(), authenticator_->NodeOfCall(*context).value_or(""));
}

}  // namespace ferry::controlplane
