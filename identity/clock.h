// Wall-clock injection for certificate validity decisions, so tests can move time.
#pragma once

#include <chrono>
#include <functional>

namespace ferry::identity {

using SystemTime = std::chrono::system_clock::time_point;
using WallClock = std::function<SystemTime()>;

inline SystemTime SystemNow() { return std::chrono::system_clock::now(); }

// Validity window of one certificate.
struct CertificateLifetime {
  SystemTime not_before;
  SystemTime not_after;

  std::chrono::system_clock::duration Length() const { return not_after - not_before; }
  bool Covers(SystemTime t) const { return t >= not_before && t < not_after; }
};

}  // namespace ferry::identity
