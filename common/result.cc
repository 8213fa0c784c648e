#include "common/result.h"

#include <cstdio>

namespace ferry {

void AssertFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "ferry: assertion failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace ferry
