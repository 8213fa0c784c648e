// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sockops (4.13), attached to the node's pod cgroup: records original destinations. */
#include "lib/sockops.h"

SEC("sockops")
int ferry_sockops_prog(struct bpf_sock_ops *skops)
{
	return ferry_sockops(skops);
}

/* GPL-compatible: several helpers used here are GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
