/* Address classification shared by the hooks. All addresses are in network byte order, as the
 * kernel hands them to BPF programs. */
#ifndef FERRY_BPF_LIB_ADDR_H
#define FERRY_BPF_LIB_ADDR_H

#include "lib/common.h"

/* 127.0.0.0/8 or 0.0.0.0 (connecting to INADDR_ANY reaches the local host). */
static __always_inline bool ferry_ip4_is_local(__u32 ip)
{
	return ip == 0 || (bpf_ntohl(ip) >> 24) == 127;
}

/* ::ffff:a.b.c.d, given as the four 32-bit words of an in6_addr. */
static __always_inline bool ferry_ip6_is_v4mapped(__u32 w0, __u32 w1, __u32 w2)
{
	return w0 == 0 && w1 == 0 && w2 == bpf_htonl(0x0000ffff);
}

/* ::1 or :: (connecting to the unspecified address reaches the local host). */
static __always_inline bool ferry_ip6_is_local(__u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	return w0 == 0 && w1 == 0 && w2 == 0 && (w3 == 0 || w3 == bpf_htonl(1));
}

#endif /* FERRY_BPF_LIB_ADDR_H */
