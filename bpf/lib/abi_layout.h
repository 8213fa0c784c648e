/* The layout of every struct in ferry_abi.h, written down once. Plain C macros with no includes, so
 * both sides check against the same table: the BPF side with _Static_assert (lib/abi_check.h, a
 * drift breaks the BPF build) and the C++ side in tests/abi/ (a drift fails the unit test and the
 * C++ build). If you change a row, bump FERRY_ABI_VERSION and the _v<N> map names too.
 *
 * FERRY_ABI_SIZES(X):   X(struct type, sizeof)
 * FERRY_ABI_OFFSETS(X): X(struct type, field, offsetof, sizeof field)
 */
#ifndef FERRY_BPF_LIB_ABI_LAYOUT_H
#define FERRY_BPF_LIB_ABI_LAYOUT_H

#define FERRY_ABI_SIZES(X)                 \
	X(struct ferry_pod, 8)             \
	X(struct ferry_orig_dst, 8)        \
	X(struct ferry_orig_dst_key, 16)

#define FERRY_ABI_OFFSETS(X)                                \
	X(struct ferry_pod, pod_ip, 0, 4)                   \
	X(struct ferry_pod, flags, 4, 4)                    \
	X(struct ferry_orig_dst, ip, 0, 4)                  \
	X(struct ferry_orig_dst, port, 4, 2)                \
	X(struct ferry_orig_dst, pad, 6, 2)                 \
	X(struct ferry_orig_dst_key, netns_cookie, 0, 8)    \
	X(struct ferry_orig_dst_key, client_ip, 8, 4)       \
	X(struct ferry_orig_dst_key, client_port, 12, 2)    \
	X(struct ferry_orig_dst_key, pad, 14, 2)

/* Value sizes of the maps whose values are not ABI structs. */
#define FERRY_ABI_ENROLLED_KEY_SIZE 8 /* __u64 netns cookie */
#define FERRY_ABI_INBOUND_KEY_SIZE 4  /* __u32 pod IP, network byte order */
#define FERRY_ABI_INBOUND_VALUE_SIZE 8 /* __u64: socket fd on update, socket cookie on lookup */

#endif /* FERRY_BPF_LIB_ABI_LAYOUT_H */
