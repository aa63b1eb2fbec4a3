/* SPDX-License-Identifier: MIT */
/*
 * The nftables backend: the table's verdicts as a table `inet <table>`
 * of nftables sets and a few rules, kept in step with the op log through
 * libnftables, behind enforce/backend.h. What it builds and why is the
 * essay at the top of nft.c.
 *
 * Like the BPF backend, it survives ipwalld: the table stays in the
 * kernel at a stop or a crash (timeouts keep expiring single addresses
 * on time, prefixes a minute late), a start keeps it as it is and the
 * first reconcile makes it match the table by difference.
 * ipwd_nft_remove() takes it away.
 *
 * Threads: the calls of enforce/backend.h, from one thread at a time;
 * metrics() from any thread.
 */
#ifndef IPWALL_DAEMON_ENFORCE_NFT_H
#define IPWALL_DAEMON_ENFORCE_NFT_H

#include <stdbool.h>
#include <stdint.h>

#include "enforce/backend.h"

struct ipwd_nft_opts {
	/* Name of the inet table: letters, digits and '_', at most 32
	 * characters, not starting with a digit. NULL = "ipwall". */
	const char *table;
	/* Also judge forwarded packets (containers behind the host: what
	 * Docker's DOCKER-USER chain is for), not only those for the host. */
	bool forward;
	/* The most elements ipwalld puts in each of the eight sets (0 =
	 * 1,048,576); what does not fit is counted and left out. */
	uint32_t max_elements;
};

/*
 * ipwd_nft_new() - open libnftables, create the table and its sets when
 * they are missing and keep them when they exist (nothing enforced is
 * changed: the chains and rules are written by the first reconcile(),
 * together with the elements).
 * Returns 0, IPW_EINVAL (a bad table name), IPW_ENOMEM, or IPW_EIO
 * (nftables refused: no CAP_NET_ADMIN, no nf_tables in the kernel;
 * logged).
 */
int ipwd_nft_new(struct ipwd_backend *out, const struct ipwd_nft_opts *o);

/*
 * ipwd_nft_remove() - delete the table @table (NULL = "ipwall") and all
 * it holds, for `detach`. Returns 0, also when there is no such table,
 * IPW_EINVAL or IPW_EIO (logged).
 */
int ipwd_nft_remove(const char *table);

#endif /* IPWALL_DAEMON_ENFORCE_NFT_H */
