/* Shared prelude for every Ferry BPF program: kernel types, libbpf helpers, the ABI, and the few
 * UAPI constants that vmlinux.h (BTF types only, no #defines) does not carry. */
#ifndef FERRY_BPF_LIB_COMMON_H
#define FERRY_BPF_LIB_COMMON_H

#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ferry_abi.h"
#include "lib/abi_check.h"

/* From <linux/socket.h>, <linux/net.h>, <linux/in.h>: stable UAPI values. */
#define FERRY_AF_INET 2
#define FERRY_AF_INET6 10
#define FERRY_SOCK_STREAM 1
#define FERRY_IPPROTO_TCP 6

/* Return codes of cgroup/connect* and cgroup/getpeername*: 1 lets the syscall go on, 0 makes it
 * fail with EPERM (getpeername hooks must always return 1). */
#define FERRY_CGROUP_ALLOW 1
#define FERRY_CGROUP_REFUSE 0

/* Reads a context field exactly once, at this point. Plain loads are not enough: when two branches
 * read different fields (local_ip4 vs local_ip6[3]), clang 14 sinks the loads and merges them into
 * one load through a computed pointer, and the verifier rejects any context access at a modified
 * offset ("dereference of modified ctx ptr ... disallowed"). A volatile access can be neither
 * merged nor moved, so each field gets its own load with a constant offset. */
#define FERRY_CTX_READ(field) (*(volatile __typeof__(field) *)&(field))

#endif /* FERRY_BPF_LIB_COMMON_H */
