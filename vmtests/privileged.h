// Gate for privileged tests: skip when not root, unless FERRY_REQUIRE_PRIVILEGED=1 (CI), where a
// missing privilege or kernel feature is a failure, never a silent skip.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace ferry::vmtest {

bool PrivilegesRequired();
// Empty when the test can run; otherwise why it cannot (not root, no cgroup2, no bpffs, ...).
std::string MissingPrivilege();

}  // namespace ferry::vmtest

// Use at the top of every privileged test (or in SetUp).
#define FERRY_REQUIRE_PRIVILEGED()                                                   \
  do {                                                                               \
    std::string ferry_missing_ = ::ferry::vmtest::MissingPrivilege();                \
    if (!ferry_missing_.empty()) {                                                   \
      if (::ferry::vmtest::PrivilegesRequired()) FAIL() << ferry_missing_;           \
      GTEST_SKIP() << ferry_missing_;                                                \
    }                                                                                \
  } while (0)
