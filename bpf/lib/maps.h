/* Every map Ferry's programs share, defined once. Each object that includes this header declares
 * all of them; LIBBPF_PIN_BY_NAME plus the loader's pin_root_path (the node's pin directory) makes
 * libbpf pin the first instance and reuse the pinned map in every later object and after an agent
 * restart, so all programs and all agent generations see one set of maps. libbpf refuses to reuse
 * a pinned map whose type/key/value/max_entries/flags differ: a layout change must bump _v<N>. */
#ifndef FERRY_BPF_LIB_MAPS_H
#define FERRY_BPF_LIB_MAPS_H

#include "lib/common.h"

#define FERRY_MAX_PODS 4096
#define FERRY_MAX_INFLIGHT_CONNECTS 65536

/* netns cookie -> pod; written by the agent at enrollment. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FERRY_MAX_PODS);
	__type(key, __u64);
	__type(value, struct ferry_pod);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ferry_enrolled_v1 SEC(".maps");

/* Per-socket original destination (connect4/6 write, sockops and getpeername read). Socket storage
 * (5.2) lives and dies with the socket, so nothing here can leak. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for socket storage */
	__type(key, int);
	__type(value, struct ferry_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ferry_sk_origdst_v1 SEC(".maps");

/* {netns cookie, client ip, client port} -> original destination; sockops writes, the agent takes.
 * LRU: records of connections the agent never accepted (client gave up, agent died) get evicted
 * instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FERRY_MAX_INFLIGHT_CONNECTS);
	__type(key, struct ferry_orig_dst_key);
	__type(value, struct ferry_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ferry_orig_dst_v1 SEC(".maps");

/* pod IP (network byte order) -> the agent's inbound (15006) listener in that pod's netns. The
 * kernel drops a socket from a SOCKHASH when it closes, so agent death empties this map and
 * sk_lookup then fails closed. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, FERRY_MAX_PODS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ferry_inbound_v1 SEC(".maps");

/* Datapath counters, per CPU so that no increment contends; the agent sums them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FERRY_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ferry_counters_v1 SEC(".maps");

_Static_assert(sizeof(__u64) == FERRY_ABI_ENROLLED_KEY_SIZE, "enrolled key size");
_Static_assert(sizeof(__u32) == FERRY_ABI_INBOUND_KEY_SIZE, "inbound key size");
_Static_assert(sizeof(__u64) == FERRY_ABI_INBOUND_VALUE_SIZE, "inbound value size");

static __always_inline void ferry_count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&ferry_counters_v1, &counter);

	/* Per-CPU slot and programs run with migration disabled: a plain add is race-free. */
	if (value)
		*value += 1;
}

#endif /* FERRY_BPF_LIB_MAPS_H */
