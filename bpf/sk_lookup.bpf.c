// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sk_lookup (5.9), attached to each enrolled pod's network namespace: inbound capture. */
#include "lib/sk_lookup.h"

SEC("sk_lookup")
int ferry_sk_lookup_prog(struct bpf_sk_lookup *ctx)
{
	return ferry_sk_lookup(ctx);
}

/* GPL-compatible: several helpers used here are GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
