/* cgroup/getpeername4/6 (5.8): a captured client's getpeername() reports the destination it asked
 * for, not the agent's listener, so redirection is invisible to the application. */
#ifndef FERRY_BPF_LIB_GETPEERNAME_H
#define FERRY_BPF_LIB_GETPEERNAME_H

#include "lib/common.h"
#include "lib/maps.h"

static __always_inline struct ferry_orig_dst *ferry_saved_destination(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return NULL;
	/* Only sockets connect4/6 captured have storage. Accepted sockets never do: storage without
	 * BPF_F_CLONE is not copied from a listener to its children. */
	return bpf_sk_storage_get(&ferry_sk_origdst_v1, sk, 0, 0);
}

static __always_inline int ferry_getpeername4(struct bpf_sock_addr *ctx)
{
	struct ferry_orig_dst *orig = ferry_saved_destination(ctx);

	if (orig) {
		ctx->user_ip4 = orig->ip;
		ctx->user_port = orig->port;
		ferry_count(FERRY_CTR_GETPEERNAME_REWRITTEN);
	}
	return FERRY_CGROUP_ALLOW; /* getpeername hooks may only return 1 */
}

static __always_inline int ferry_getpeername6(struct bpf_sock_addr *ctx)
{
	struct ferry_orig_dst *orig = ferry_saved_destination(ctx);

	/* Storage on an IPv6 socket means connect6 captured a v4-mapped destination. */
	if (orig) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = orig->ip;
		ctx->user_port = orig->port;
		ferry_count(FERRY_CTR_GETPEERNAME_REWRITTEN);
	}
	return FERRY_CGROUP_ALLOW;
}

#endif /* FERRY_BPF_LIB_GETPEERNAME_H */
