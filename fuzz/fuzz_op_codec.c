// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the op record codec (src/daemon/oplog/codec.c),
 * which reads bytes from other nodes and from the store's op log. Beyond
 * "does not crash": bytes that decode as a record re-encode to exactly the
 * same bytes, and the decoded record decodes the same from them; bytes
 * that are refused come with a reason and an offset inside them. The same
 * input is also walked as a group: every record it yields re-encodes to
 * its own bytes, and the walk ends at the end of the input or with an
 * error inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oplog/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ipwd_oprec_buf a, b;
	uint8_t out[IPWD_CODEC_RECORD_MAX];
	struct ipwd_codec_err e = {0};
	uint64_t count = 0, seen = 0;
	size_t pos = 0;
	int n, rc;

	if (ipwd_codec_decode(data, size, &a, &e) == 0) {
		n = ipwd_codec_encode(&a.r, out, sizeof(out));
		check(n > 0 && (size_t)n == size &&
		      memcmp(out, data, size) == 0);
		check(ipwd_codec_decode(out, (size_t)n, &b, NULL) == 0);
		n = ipwd_codec_encode(&b.r, out, sizeof(out));
		check((size_t)n == size && memcmp(out, data, size) == 0);
	} else {
		check(e.why != NULL && e.pos <= size);
	}

	while ((rc = ipwd_codec_group_next(data, size, &pos, &count, &seen, &a,
					   &e)) == 1) {
		check(pos <= size);
		n = ipwd_codec_encode(&a.r, out, sizeof(out));
		check(n > 0);
	}
	check(rc == -1 || (rc == 0 && pos == size && seen == count));
	return 0;
}
