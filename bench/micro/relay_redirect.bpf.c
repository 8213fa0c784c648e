// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Measurement prototype for the kernel fast path (DESIGN.md, datapath item 9), used only by
 * ferry-bench-relay: a stream verdict that hands every skb a relay socket receives to the socket
 * paired with it, so the relay's bytes never reach user space. Not the agent's datapath. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

/* From <linux/bpf.h> (enum sk_action): vmlinux.h carries no #defines. */
#define RELAY_SK_DROP 0
#define RELAY_SK_PASS 1
#define RELAY_BPF_NOEXIST 1

/* The relay's sockets, keyed by socket cookie (SO_COOKIE in user space). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} relay_socks SEC(".maps");

/* cookie of a relay socket -> cookie of the socket its received bytes are sent out of. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} relay_peer SEC(".maps");

/* cookie -> bytes this socket's verdict redirected (lets user space tell when the peer's backlog
 * has drained before it propagates a FIN). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} relay_redirected SEC(".maps");

/* cookie -> bytes passed to the socket's own receive queue. An entry is a latch: once a socket's
 * verdict ran before user space paired it, every later byte is passed too, so user space can copy
 * that direction in order (redirecting later bytes would overtake the passed ones). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} relay_passed SEC(".maps");

SEC("sk_skb/stream_verdict")
int relay_verdict(struct __sk_buff *skb)
{
	/* A bare FIN reaches the verdict as a zero-length skb. Redirected, the peer's backlog sends 0
	 * bytes, takes the 0 for a hard error, disables the peer's transmit side and reports EPIPE on
	 * it (kernel 6.18). The FIN itself is already recorded in the socket's shutdown state. */
	if (skb->len == 0)
		return RELAY_SK_DROP;

	__u64 cookie = bpf_get_socket_cookie(skb);
	__u64 *passed = bpf_map_lookup_elem(&relay_passed, &cookie);
	if (passed) {
		__sync_fetch_and_add(passed, skb->len);
		return RELAY_SK_PASS;
	}
	/* User space writes the peer entries first and then inserts the upstream socket and the
	 * client: a peer that is not in the SOCKHASH yet means "not paired", and redirecting to it
	 * would drop the skb. */
	__u64 *peer = bpf_map_lookup_elem(&relay_peer, &cookie);
	struct bpf_sock *peer_sk = peer ? bpf_map_lookup_elem(&relay_socks, peer) : NULL;
	if (!peer_sk) {
		__u64 len = skb->len;
		bpf_map_update_elem(&relay_passed, &cookie, &len, RELAY_BPF_NOEXIST);
		return RELAY_SK_PASS;
	}
	bpf_sk_release(peer_sk);
	__u64 *count = bpf_map_lookup_elem(&relay_redirected, &cookie);
	if (count)
		__sync_fetch_and_add(count, skb->len);
	return bpf_sk_redirect_hash(skb, &relay_socks, peer, 0);
}

/* GPL-compatible: the sockmap helpers are GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
