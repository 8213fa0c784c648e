/* Outbound capture (cgroup/connect4 and cgroup/connect6): TCP connects from enrolled pods are
 * rewritten to the agent's outbound listener <podIP>:15001 after the original destination is saved
 * in socket storage. */
#ifndef FERRY_BPF_LIB_CONNECT_H
#define FERRY_BPF_LIB_CONNECT_H

#include "lib/addr.h"
#include "lib/common.h"
#include "lib/maps.h"

/* The enrolled pod a connect belongs to, or NULL when Ferry must not touch it: the socket's netns is
 * not enrolled, or the socket is not TCP (UDP passes unmeshed, counted). bpf_get_netns_cookie()
 * for sock_addr programs: 5.7. */
static __always_inline struct ferry_pod *ferry_connect_pod(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_netns_cookie(ctx);
	struct ferry_pod *pod = bpf_map_lookup_elem(&ferry_enrolled_v1, &cookie);

	if (!pod)
		return NULL;
	if (ctx->type != FERRY_SOCK_STREAM) {
		ferry_count(FERRY_CTR_CONNECT_SKIPPED_NOT_STREAM);
		return NULL;
	}
	return pod;
}

enum ferry_connect_verdict {
	FERRY_CONNECT_PASS,     /* leave the destination alone */
	FERRY_CONNECT_REDIRECT, /* original destination saved: rewrite to <podIP>:15001 */
	FERRY_CONNECT_REFUSE,   /* fail the connect with EPERM */
};

/* Decides an IPv4 (or v4-mapped) TCP connect of an enrolled pod and, for a redirect, saves the
 * original destination. dst_ip and dst_port are in network byte order. */
static __always_inline enum ferry_connect_verdict
ferry_capture_ipv4(struct bpf_sock_addr *ctx, const struct ferry_pod *pod, __u32 dst_ip, __u16 dst_port)
{
	/* Read ctx->sk once into a local: the verifier tracks the socket pointer in the register, a
	 * second ctx load is a second, unrelated pointer. (bpf_sock_addr.sk and socket storage from
	 * sock_addr programs are verified here on 6.18; the qemu vmtests check Debian's 6.1.) */
	struct bpf_sock *sk = ctx->sk;
	struct ferry_orig_dst *orig;

	if (!sk)
		return FERRY_CONNECT_PASS;
	/* The agent marks its own sockets (FERRY_AGENT_MARK): never capture the proxy's upstreams. */
	if (sk->mark == FERRY_AGENT_MARK) {
		ferry_count(FERRY_CTR_CONNECT_SKIPPED_MARK);
		return FERRY_CONNECT_PASS;
	}
	/* Loopback and the pod's own IP never leave the pod: nothing to mesh. (This also lets the
	 * redirected connect itself, to <podIP>:15001, through should a hook ever run twice.) */
	if (ferry_ip4_is_local(dst_ip) || dst_ip == pod->pod_ip) {
		ferry_count(FERRY_CTR_CONNECT_SKIPPED_LOCAL);
		return FERRY_CONNECT_PASS;
	}
	/* bpf_sk_storage_get(): socket storage maps appeared in 5.2. */
	orig = bpf_sk_storage_get(&ferry_sk_origdst_v1, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig) {
		/* Without the record the agent could not tell where the bytes should go: refuse now
		 * rather than let the connection through unmeshed. */
		ferry_count(FERRY_CTR_CONNECT_STORAGE_FAILED);
		return FERRY_CONNECT_REFUSE;
	}
	orig->ip = dst_ip;
	orig->port = dst_port;
	orig->pad = 0;
	ferry_count(FERRY_CTR_CONNECT_REDIRECTED);
	return FERRY_CONNECT_REDIRECT;
}

static __always_inline int ferry_connect4(struct bpf_sock_addr *ctx)
{
	struct ferry_pod *pod = ferry_connect_pod(ctx);

	if (!pod)
		return FERRY_CGROUP_ALLOW;
	/* user_port holds sin_port (network byte order) in its low 16 bits. */
	switch (ferry_capture_ipv4(ctx, pod, ctx->user_ip4, (__u16)ctx->user_port)) {
	case FERRY_CONNECT_REDIRECT:
		ctx->user_ip4 = pod->pod_ip;
		ctx->user_port = bpf_htons(FERRY_PORT_OUTBOUND);
		return FERRY_CGROUP_ALLOW;
	case FERRY_CONNECT_REFUSE:
		return FERRY_CGROUP_REFUSE;
	default:
		return FERRY_CGROUP_ALLOW;
	}
}

/* IPv6 sockets: v4-mapped destinations are IPv4 connects (same rules, rewritten to
 * ::ffff:<podIP>:15001); ::1 passes; any other destination is refused, because Ferry pods have no
 * IPv6 and an uncaptured IPv6 path would bypass policy. */
static __always_inline int ferry_connect6(struct bpf_sock_addr *ctx)
{
	__u32 w0 = FERRY_CTX_READ(ctx->user_ip6[0]), w1 = FERRY_CTX_READ(ctx->user_ip6[1]);
	__u32 w2 = FERRY_CTX_READ(ctx->user_ip6[2]), w3 = FERRY_CTX_READ(ctx->user_ip6[3]);
	struct ferry_pod *pod = ferry_connect_pod(ctx);

	if (!pod)
		return FERRY_CGROUP_ALLOW;
	if (ferry_ip6_is_v4mapped(w0, w1, w2)) {
		switch (ferry_capture_ipv4(ctx, pod, w3, (__u16)ctx->user_port)) {
		case FERRY_CONNECT_REDIRECT:
			/* Words 0..2 already spell ::ffff: — only the IPv4 part and port change. */
			ctx->user_ip6[3] = pod->pod_ip;
			ctx->user_port = bpf_htons(FERRY_PORT_OUTBOUND);
			return FERRY_CGROUP_ALLOW;
		case FERRY_CONNECT_REFUSE:
			return FERRY_CGROUP_REFUSE;
		default:
			return FERRY_CGROUP_ALLOW;
		}
	}
	if (ferry_ip6_is_local(w0, w1, w2, w3)) {
		ferry_count(FERRY_CTR_CONNECT_SKIPPED_LOCAL);
		return FERRY_CGROUP_ALLOW;
	}
	ferry_count(FERRY_CTR_CONNECT6_REFUSED);
	return FERRY_CGROUP_REFUSE;
}

#endif /* FERRY_BPF_LIB_CONNECT_H */
