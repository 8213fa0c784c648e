/* sk_lookup (5.9), attached to each enrolled pod's netns: every inbound TCP connection to the pod,
 * except to the tunnel port 15008, is steered onto the agent's inbound (15006) listener for that pod
 * IP. The accepted socket's getsockname() still shows the address and port the client dialled. */
#ifndef FERRY_BPF_LIB_SK_LOOKUP_H
#define FERRY_BPF_LIB_SK_LOOKUP_H

#include "lib/addr.h"
#include "lib/common.h"
#include "lib/maps.h"

static __always_inline int ferry_sk_lookup(struct bpf_sk_lookup *ctx)
{
	/* Load every context field this program uses once, before any branch (FERRY_CTX_READ): left
	 * to itself clang merges e.g. the local_ip4 and local_ip6 loads of different branches into one
	 * load at a computed offset, which the verifier rejects. */
	__u32 family = FERRY_CTX_READ(ctx->family);
	__u32 protocol = FERRY_CTX_READ(ctx->protocol);
	__u32 remote_ip4 = FERRY_CTX_READ(ctx->remote_ip4);
	__u32 local_ip4 = FERRY_CTX_READ(ctx->local_ip4);
	__u32 local_port = FERRY_CTX_READ(ctx->local_port); /* host byte order */
	__u32 l6w0 = FERRY_CTX_READ(ctx->local_ip6[0]), l6w1 = FERRY_CTX_READ(ctx->local_ip6[1]);
	__u32 l6w2 = FERRY_CTX_READ(ctx->local_ip6[2]), l6w3 = FERRY_CTX_READ(ctx->local_ip6[3]);
	struct bpf_sock *sk;
	long err;

	if (protocol != FERRY_IPPROTO_TCP) {
		ferry_count(FERRY_CTR_SK_LOOKUP_PASSED); /* UDP passes unmeshed (documented) */
		return SK_PASS;
	}
	if (family == FERRY_AF_INET6) {
		/* Ferry pods have no IPv6 and connect6 refuses native IPv6 outbound; inbound IPv6 would
		 * reach the app unauthenticated, so it is dropped (fail closed). Loopback inside the pod
		 * (::1 -> ::1) never crosses the pod boundary and passes. */
		if (ferry_ip6_is_local(l6w0, l6w1, l6w2, l6w3)) {
			ferry_count(FERRY_CTR_SK_LOOKUP_PASSED);
			return SK_PASS;
		}
		ferry_count(FERRY_CTR_SK_LOOKUP_DROPPED_IPV6);
		return SK_DROP;
	}
	/* The tunnel listener authenticates its peers itself (mutual TLS). Source == destination is the
	 * pod talking to itself or the agent delivering from inside the pod (loop avoidance); loopback
	 * never leaves the pod. */
	if (local_port == FERRY_PORT_TUNNEL || remote_ip4 == local_ip4 || ferry_ip4_is_local(local_ip4)) {
		ferry_count(FERRY_CTR_SK_LOOKUP_PASSED);
		return SK_PASS;
	}
	/* SOCKHASH lookups from sk_lookup return a referenced socket (5.9); it must be released. */
	sk = bpf_map_lookup_elem(&ferry_inbound_v1, &local_ip4);
	if (!sk) {
		/* This netns is enrolled but has no agent listener: the agent is gone. Fail closed. */
		ferry_count(FERRY_CTR_SK_LOOKUP_DROPPED);
		return SK_DROP;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		ferry_count(FERRY_CTR_SK_LOOKUP_DROPPED);
		return SK_DROP;
	}
	ferry_count(FERRY_CTR_SK_LOOKUP_STEERED);
	return SK_PASS;
}

#endif /* FERRY_BPF_LIB_SK_LOOKUP_H */
