// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cgroup/connect6 (4.17), attached to the node's pod cgroup: v4-mapped capture, IPv6 refusal. */
#include "lib/connect.h"

SEC("cgroup/connect6")
int ferry_connect6_prog(struct bpf_sock_addr *ctx)
{
	return ferry_connect6(ctx);
}

/* GPL-compatible: several helpers used here are GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
