/* sockops: publishes the original destination of each captured connection in the orig_dst map,
 * keyed by what the agent can see after accept(): the netns cookie of its listener and the peer
 * (= client) address. */
#ifndef FERRY_BPF_LIB_SOCKOPS_H
#define FERRY_BPF_LIB_SOCKOPS_H

#include "lib/addr.h"
#include "lib/common.h"
#include "lib/maps.h"

/* The client's IPv4 address of a connecting socket, also for AF_INET6 sockets connecting to a
 * v4-mapped address. Returns false for native IPv6 (never captured: connect6 refuses it). */
static __always_inline bool ferry_sockops_client_ip4(struct bpf_sock_ops *skops, __u32 *ip)
{
	/* Every field loaded once, unconditionally (FERRY_CTX_READ explains why). */
	__u32 family = FERRY_CTX_READ(skops->family);
	__u32 ip4 = FERRY_CTX_READ(skops->local_ip4);
	__u32 w0 = FERRY_CTX_READ(skops->local_ip6[0]), w1 = FERRY_CTX_READ(skops->local_ip6[1]);
	__u32 w2 = FERRY_CTX_READ(skops->local_ip6[2]), w3 = FERRY_CTX_READ(skops->local_ip6[3]);

	if (family == FERRY_AF_INET) {
		*ip = ip4;
		return true;
	}
	if (family == FERRY_AF_INET6 && ferry_ip6_is_v4mapped(w0, w1, w2)) {
		*ip = w3;
		return true;
	}
	return false;
}

static __always_inline int ferry_sockops(struct bpf_sock_ops *skops)
{
	struct ferry_orig_dst_key key = {};
	struct ferry_orig_dst *orig;
	struct bpf_sock *sk;
	__u32 client_ip;

	/* TCP_CONNECT_CB runs from tcp_connect(), after the source port is bound and before the SYN
	 * leaves, for every TCP socket of the cgroup; no cb flags needed. */
	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	/* skops->sk (5.10) is a full socket here but the verifier only knows "or NULL". */
	sk = skops->sk;
	if (!sk)
		return 1;
	/* No storage: connect4/6 did not capture this socket (loopback, marked, not enrolled). */
	orig = bpf_sk_storage_get(&ferry_sk_origdst_v1, sk, 0, 0);
	if (!orig)
		return 1;
	if (!ferry_sockops_client_ip4(skops, &client_ip))
		return 1;
	/* bpf_get_netns_cookie() for sockops: 5.15. */
	key.netns_cookie = bpf_get_netns_cookie(skops);
	key.client_ip = client_ip;
	/* sockops reports local_port in host byte order (remote_port in network order). */
	key.client_port = bpf_htons((__u16)skops->local_port);
	if (bpf_map_update_elem(&ferry_orig_dst_v1, &key, orig, BPF_ANY) == 0)
		ferry_count(FERRY_CTR_ORIG_DST_RECORDED);
	else
		ferry_count(FERRY_CTR_ORIG_DST_UPDATE_FAILED);
	return 1;
}

#endif /* FERRY_BPF_LIB_SOCKOPS_H */
