// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cgroup/getpeername4 (5.8), attached to the node's pod cgroup. */
#include "lib/getpeername.h"

SEC("cgroup/getpeername4")
int ferry_getpeername4_prog(struct bpf_sock_addr *ctx)
{
	return ferry_getpeername4(ctx);
}

/* GPL-compatible: several helpers used here are GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
