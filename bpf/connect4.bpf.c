// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cgroup/connect4 (4.17), attached to the node's pod cgroup: outbound capture. */
#include "lib/connect.h"

SEC("cgroup/connect4")
int ferry_connect4_prog(struct bpf_sock_addr *ctx)
{
	return ferry_connect4(ctx);
}

/* GPL-compatible: several helpers used here are GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
