// SPDX-License-Identifier: MIT
/*
 * kernel_verdicts IFNAME xdp|tc: the verdict of the BPF program attached
 * to IFNAME (at XDP, or ipwall's TC clsact ingress filter) for each
 * address read from stdin, one per line, printed as "ADDRESS DROP" or
 * "ADDRESS PASS". Each address is sent as a UDP frame from that source
 * through BPF_PROG_TEST_RUN on the very program the kernel runs, found by
 * id on the interface: no traffic, no change to anything. Run it in the
 * interface's network namespace. For tests/integration/enforce_property.sh,
 * which compares these verdicts with ipwalld's /v1/check.
 * Exit 0, or 1 with a message on stderr.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#define TC_HANDLE   0x1a11 /* as src/daemon/enforce/bpf_backend.c */
#define TC_PRIORITY 0x1a11

static size_t frame(uint8_t *f, const char *ip)
{
	static const uint8_t mac[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
	struct in_addr a4;
	struct in6_addr a6;
	uint8_t *p = f + 14;

	memset(f, 0, 128);
	memcpy(f, mac, 12);
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		f[12] = 0x08;
		p[0] = 0x45;
		p[3] = 28;
		p[8] = 64;
		p[9] = 17;
		memcpy(p + 12, &a4, 4);
		p[16] = 10;
		p[19] = 1;
		return 14 + 28;
	}
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		f[12] = 0x86;
		f[13] = 0xdd;
		p[0] = 0x60;
		p[5] = 8;
		p[6] = 17;
		p[7] = 64;
		memcpy(p + 8, &a6, 16);
		p[24] = 0xfd;
		p[39] = 1;
		return 14 + 48;
	}
	return 0;
}

static int prog_fd(const char *ifname, int tc)
{
	int idx = (int)if_nametoindex(ifname);
	__u32 id = 0;

	if (idx == 0) {
		fprintf(stderr, "kernel_verdicts: no interface %s\n", ifname);
		return -1;
	}
	if (tc) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx,
			    .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, q, .handle = TC_HANDLE,
			    .priority = TC_PRIORITY);

		if (bpf_tc_query(&hook, &q) == 0)
			id = q.prog_id;
	} else {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		if (bpf_xdp_query(idx, 0, &q) == 0)
			id = q.prog_id;
	}
	if (id == 0) {
		fprintf(stderr, "kernel_verdicts: no %s program on %s\n",
			tc ? "TC" : "XDP", ifname);
		return -1;
	}
	return bpf_prog_get_fd_by_id(id);
}

int main(int argc, char **argv)
{
	char line[256];
	uint8_t f[128];
	int fd, tc;

	if (argc != 3 ||
	    (strcmp(argv[2], "xdp") != 0 && strcmp(argv[2], "tc") != 0)) {
		fprintf(stderr, "usage: kernel_verdicts IFNAME xdp|tc\n");
		return 1;
	}
	tc = strcmp(argv[2], "tc") == 0;
	fd = prog_fd(argv[1], tc);
	if (fd < 0)
		return 1;
	while (fgets(line, sizeof(line), stdin)) {
		struct bpf_test_run_opts o = {.sz = sizeof(o), .repeat = 1};
		size_t len;

		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		len = frame(f, line);
		if (len == 0) {
			fprintf(stderr, "kernel_verdicts: not an address: %s\n",
				line);
			return 1;
		}
		o.data_in = f;
		o.data_size_in = (__u32)len;
		if (bpf_prog_test_run_opts(fd, &o) != 0) {
			perror("kernel_verdicts: BPF_PROG_TEST_RUN");
			return 1;
		}
		/* XDP_DROP = 1, TC_ACT_SHOT = 2 */
		printf("%s %s\n", line,
		       o.retval == (tc ? 2u : 1u) ? "DROP" : "PASS");
	}
	close(fd);
	return 0;
}
