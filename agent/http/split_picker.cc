#include "agent/http/split_picker.h"

namespace ferry::http {
namespace {

Result<std::int64_t> TotalWeight(const std::vector<SplitBackend>& backends) {
  std::int64_t total = 0;
  for (const SplitBackend& b : backends) total += b.weight;  // 2^32 backends cannot overflow int64
  if (total == 0) return MakeError("traffic split has no backend with a positive weight");
  return total;
}

bool SameWeights(const std::vector<SplitBackend>& a, const std::vector<SplitBackend>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].service != b[i].service || a[i].weight != b[i].weight) return false;
  }
  return true;
}

}  // namespace

SplitPicker::SplitPicker(std::vector<SplitBackend> backends)
    : backends_(std::move(backends)), credit_(backends_.size(), 0) {
  for (const SplitBackend& b : backends_) total_ += b.weight;
}

Result<SplitPicker> SplitPicker::Create(std::vector<SplitBackend> backends) {
  FERRY_TRY(TotalWeight(backends));
  return SplitPicker(std::move(backends));
}

Result<SplitPicker> SplitPicker::FromProto(const ferry::v1::TrafficSplit& split) {
  std::vector<SplitBackend> backends;
  for (const auto& b : split.backends()) backends.push_back({b.service(), b.weight()});
  auto picker = Create(std::move(backends));
  if (!picker.ok()) {
    return MakeError("TrafficSplit " + split.namespace_() + "/" + split.name() + ": " +
                     picker.error().context);
  }
  return picker;
}

std::size_t SplitPicker::Pick() {
  std::size_t best = backends_.size();
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    // Zero-weight backends earn no credit and are never candidates, whatever credit they hold.
    if (backends_[i].weight == 0) continue;
    credit_[i] += backends_[i].weight;
    if (best == backends_.size() || credit_[i] > credit_[best]) best = i;
  }
  FERRY_ASSERT(best < backends_.size());  // Create/SetWeights guarantee a positive total
  credit_[best] -= total_;
  return best;
}

std::size_t SplitPicker::PickRandom(UniformRandom& random) const {
  std::uint64_t ticket = random.Below(static_cast<std::uint64_t>(total_));
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    if (ticket < backends_[i].weight) return i;
    ticket -= backends_[i].weight;
  }
  FERRY_ASSERT(false && "ticket beyond the total weight");
  return 0;
}

Result<void> SplitPicker::SetWeights(std::vector<SplitBackend> backends) {
  auto total = TotalWeight(backends);
  if (!total.ok()) return total.error();
  if (SameWeights(backends, backends_)) return Ok();
  backends_ = std::move(backends);
  credit_.assign(backends_.size(), 0);
  total_ = *total;
  return Ok();
}

}  // namespace ferry::http
