// The host compiler must lay out every struct of bpf/ferry_abi.h exactly as the table in
// bpf/lib/abi_layout.h says; the BPF build checks the same table with _Static_assert
// (bpf/lib/abi_check.h). A drift on either side would make the agent read garbage from the maps.
#include <linux/types.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

// clang-format off
#include "ferry_abi.h"
#include "lib/abi_layout.h"
// clang-format on

namespace {

// Compile-time: a drift breaks the C++ build, like it breaks the BPF build.
#define FERRY_STATIC_SIZE(type, size) static_assert(sizeof(type) == (size), "ABI drift: sizeof(" #type ")");
#define FERRY_STATIC_OFFSET(type, field, offset, size)                                  \
  static_assert(offsetof(type, field) == (offset), "ABI drift: offsetof(" #type "." #field ")"); \
  static_assert(sizeof(((type*)nullptr)->field) == (size), "ABI drift: sizeof(" #type "." #field ")");
FERRY_ABI_SIZES(FERRY_STATIC_SIZE)
FERRY_ABI_OFFSETS(FERRY_STATIC_OFFSET)

TEST(AbiLayoutTest, StructSizesMatchTheBpfSide) {
#define FERRY_EXPECT_SIZE(type, size) EXPECT_EQ(sizeof(type), size_t{size}) << #type;
  FERRY_ABI_SIZES(FERRY_EXPECT_SIZE)
#undef FERRY_EXPECT_SIZE
}

TEST(AbiLayoutTest, FieldOffsetsMatchTheBpfSide) {
#define FERRY_EXPECT_OFFSET(type, field, offset, size)                       \
  EXPECT_EQ(offsetof(type, field), size_t{offset}) << #type "." #field;     \
  EXPECT_EQ(sizeof(((type*)nullptr)->field), size_t{size}) << #type "." #field;
  FERRY_ABI_OFFSETS(FERRY_EXPECT_OFFSET)
#undef FERRY_EXPECT_OFFSET
}

TEST(AbiLayoutTest, StructsHaveNoImplicitPadding) {
  // Every byte of a key must be a named field: the kernel hashes all of it, and implicit padding
  // would carry whatever the stack held.
  size_t pod = 0, orig = 0, key = 0;
#define FERRY_ADD_FIELD(type, field, offset, size)            \
  if (std::string(#type) == "struct ferry_pod") pod += size;  \
  if (std::string(#type) == "struct ferry_orig_dst") orig += size; \
  if (std::string(#type) == "struct ferry_orig_dst_key") key += size;
  FERRY_ABI_OFFSETS(FERRY_ADD_FIELD)
#undef FERRY_ADD_FIELD
  EXPECT_EQ(pod, sizeof(ferry_pod));
  EXPECT_EQ(orig, sizeof(ferry_orig_dst));
  EXPECT_EQ(key, sizeof(ferry_orig_dst_key));
}

TEST(AbiLayoutTest, CountersFitTheCountersMap) {
  EXPECT_LT(static_cast<int>(FERRY_CTR_LAST_), static_cast<int>(FERRY_CTR_MAX));
  EXPECT_EQ(FERRY_CTR_CONNECT_REDIRECTED, 0);
  EXPECT_EQ(FERRY_CTR_GETPEERNAME_REWRITTEN, 9);
}

TEST(AbiLayoutTest, WellKnownPortsAndMark) {
  EXPECT_EQ(FERRY_PORT_OUTBOUND, 15001);
  EXPECT_EQ(FERRY_PORT_INBOUND, 15006);
  EXPECT_EQ(FERRY_PORT_TUNNEL, 15008);
  EXPECT_NE(FERRY_AGENT_MARK, 0u);
}

}  // namespace
