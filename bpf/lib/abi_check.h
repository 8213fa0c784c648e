/* Build-time check that clang's BPF target lays out ferry_abi.h exactly as lib/abi_layout.h says
 * (the C++ side checks the same table in tests/abi/). */
#ifndef FERRY_BPF_LIB_ABI_CHECK_H
#define FERRY_BPF_LIB_ABI_CHECK_H

#include "lib/abi_layout.h"

#define FERRY_CHECK_SIZE(type, size) \
	_Static_assert(sizeof(type) == (size), "ABI drift: sizeof(" #type ")");
#define FERRY_CHECK_OFFSET(type, field, offset, size)                                       \
	_Static_assert(__builtin_offsetof(type, field) == (offset),                          \
		       "ABI drift: offsetof(" #type ", " #field ")");                        \
	_Static_assert(sizeof(((type *)0)->field) == (size),                                \
		       "ABI drift: sizeof(" #type "." #field ")");

FERRY_ABI_SIZES(FERRY_CHECK_SIZE)
FERRY_ABI_OFFSETS(FERRY_CHECK_OFFSET)

_Static_assert(FERRY_CTR_LAST_ < FERRY_CTR_MAX, "counter index beyond the counters map");

#undef FERRY_CHECK_SIZE
#undef FERRY_CHECK_OFFSET

#endif /* FERRY_BPF_LIB_ABI_CHECK_H */
