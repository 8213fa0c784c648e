// GoogleTest helpers for ferry::Result.
#pragma once

#include <gtest/gtest.h>

#include "common/result.h"

#define EXPECT_OK(expr)                                                   \
  do {                                                                    \
    const auto& ferry_r_ = (expr);                                        \
    EXPECT_TRUE(ferry_r_.ok()) << (ferry_r_.ok() ? "" : ferry_r_.error().Message()); \
  } while (0)
#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    const auto& ferry_r_ = (expr);                                        \
    ASSERT_TRUE(ferry_r_.ok()) << (ferry_r_.ok() ? "" : ferry_r_.error().Message()); \
  } while (0)
#define EXPECT_ERR(expr) EXPECT_FALSE((expr).ok())
