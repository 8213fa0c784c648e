/* The ABI between Ferry's BPF programs and the agent: map keys, values and constants.
 *
 * Plain C, fixed-width kernel types, explicit padding, no includes: BPF code gets __u32 & co. from
 * vmlinux.h, C++ from <linux/types.h> (include it before this file). bpf/lib/abi_check.h (at BPF build
 * time) and tests/abi/ (C++) check sizes and offsets against the table in bpf/lib/abi_layout.h;
 * bump FERRY_ABI_VERSION and the _v<N> suffix of the pinned names whenever a layout changes,
 * so a new agent never reads an old agent's pinned map with the wrong layout.
 */
#ifndef FERRY_ABI_H
#define FERRY_ABI_H

#define FERRY_ABI_VERSION 1

/* Well-known ports inside each enrolled pod's network namespace (host byte order). */
#define FERRY_PORT_OUTBOUND 15001
#define FERRY_PORT_INBOUND 15006
#define FERRY_PORT_TUNNEL 15008

/* SO_MARK the agent puts on every socket it creates; connect4/6 leave marked sockets alone. */
#define FERRY_AGENT_MARK 0x0fe77000u

/* enrolled map: __u64 netns cookie -> struct ferry_pod. Written by the agent at enrollment. */
struct ferry_pod {
	__u32 pod_ip;     /* network byte order */
	__u32 flags;      /* FERRY_POD_* */
};
#define FERRY_POD_ENROLLED 0x1u

/* Per-socket storage written by connect4/6: the destination the app asked for. */
struct ferry_orig_dst {
	__u32 ip;         /* network byte order */
	__u16 port;       /* network byte order */
	__u16 pad;
};

/* orig_dst map key, written by sockops at TCP_CONNECT_CB, read (and deleted) by the agent after
 * accept() on the outbound listener. The agent knows all three fields: the listener's netns
 * cookie and the accepted socket's peer address. */
struct ferry_orig_dst_key {
	__u64 netns_cookie;
	__u32 client_ip;   /* network byte order */
	__u16 client_port; /* network byte order */
	__u16 pad;
};

/* inbound_listeners map (SOCKHASH): key = pod IP (__u32, network byte order) -> the agent's
 * 15006 listener in that pod's netns. sk_lookup cannot read the netns cookie, hence the IP key. */

/* Datapath counters (per-CPU array, index = enum ferry_counter); summed by the agent. */
enum ferry_counter {
	FERRY_CTR_CONNECT_REDIRECTED = 0,
	FERRY_CTR_CONNECT_SKIPPED_MARK = 1,
	FERRY_CTR_CONNECT_SKIPPED_LOCAL = 2,
	FERRY_CTR_CONNECT6_REFUSED = 3,
	FERRY_CTR_ORIG_DST_RECORDED = 4,
	FERRY_CTR_ORIG_DST_MISSING = 5, /* counted by the agent: accept() found no record */
	FERRY_CTR_SK_LOOKUP_STEERED = 6,
	FERRY_CTR_SK_LOOKUP_DROPPED = 7,
	FERRY_CTR_SK_LOOKUP_PASSED = 8,
	FERRY_CTR_GETPEERNAME_REWRITTEN = 9,
	/* connect4/6 in an enrolled netns on a non-TCP socket (UDP passes unmeshed). */
	FERRY_CTR_CONNECT_SKIPPED_NOT_STREAM = 10,
	/* connect4/6 could not allocate socket storage: the connect is refused (fail closed). */
	FERRY_CTR_CONNECT_STORAGE_FAILED = 11,
	/* sockops could not write the orig_dst map; the agent will find no record and reset. */
	FERRY_CTR_ORIG_DST_UPDATE_FAILED = 12,
	/* sk_lookup dropped a native IPv6 TCP connection to an enrolled pod (pods have no IPv6). */
	FERRY_CTR_SK_LOOKUP_DROPPED_IPV6 = 13,
	FERRY_CTR_LAST_ = FERRY_CTR_SK_LOOKUP_DROPPED_IPV6, /* highest index in use */
	FERRY_CTR_MAX = 16,
};

#endif /* FERRY_ABI_H */
