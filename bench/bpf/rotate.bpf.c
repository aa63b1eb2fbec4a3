// SPDX-License-Identifier: MIT
/*
 * The benchmark's harness for "random source addresses with repeat"
 * (bench/bpf/bench_bpf.c), not part of ipwall.
 *
 * BPF_PROG_TEST_RUN with a repeat count runs a program on one frame over
 * and over: one hot packet, whose entry stays in cache. A test run per
 * address instead pays a syscall per packet (on this VM, with KPTI and no
 * PCID, the syscall also empties the TLB) and one clock read per packet.
 * rot_xdp gives the measured program a different source address on each
 * run of one test run: it writes the next address of rot_addrs into the
 * frame (the kernel keeps the frame's bytes from one run to the next),
 * then tail-calls the program in slot 0 of rot_prog, whose verdict
 * becomes the run's. The addresses are cycled in order; user space fills
 * them (mmap) and sets rot_n, rot_v6 and rot_next = 0 before a test run.
 *
 * What this adds to each packet (an array read, a 4- or 16-byte copy and
 * a tail call) is measured with rot_null in slot 0, a program that only
 * returns XDP_PASS, and subtracted by the benchmark.
 *
 * Frames: Ethernet without VLAN tags, then IPv4 (source at byte 26) or
 * IPv6 (source at byte 22), as bench_bpf.c builds them.
 */
#include <linux/bpf.h>

#include <bpf/bpf_helpers.h>

#define ROT_V4_SRC 26
#define ROT_V6_SRC 22

struct rot_addr {
	__u8 b[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rot_addr);
	__uint(max_entries, 1); /* set before load */
} rot_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rot_prog SEC(".maps");

__u32 rot_next; /* the index of the next address */
__u32 rot_n;	/* addresses in use in rot_addrs */
__u32 rot_v6;	/* the frame is IPv6 */

SEC("xdp")
int rot_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 i = rot_next;
	struct rot_addr *a;

	rot_next = i + 1 < rot_n ? i + 1 : 0;
	a = bpf_map_lookup_elem(&rot_addrs, &i);
	if (!a || data + ROT_V6_SRC + 16 > end)
		return XDP_ABORTED;
	if (rot_v6)
		__builtin_memcpy(data + ROT_V6_SRC, a->b, 16);
	else
		__builtin_memcpy(data + ROT_V4_SRC, a->b, 4);
	bpf_tail_call(ctx, &rot_prog, 0);
	return XDP_ABORTED; /* slot 0 empty */
}

SEC("xdp")
int rot_null(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
