// SPDX-License-Identifier: MIT
/* Result reporting for the benchmarks (see bench.h). */
#include <stdio.h>
#include <string.h>

#include "bench.h"

void bench_header(void)
{
	fprintf(stderr, "# cpu: %s\n", bench_cpu_model());
	fprintf(stderr, "%-10s %-34s %7s %12s %14s\n", "bench", "case",
		"threads", "ns/op", "ops/s");
}

void bench_report(const char *bench, const char *bcase, int threads,
		  uint64_t ops, uint64_t elapsed_ns, const char *extra)
{
	double ns = ops ? (double)elapsed_ns / (double)ops : 0;
	double rate = elapsed_ns ? (double)ops * 1e9 / (double)elapsed_ns : 0;

	fprintf(stderr, "%-10s %-34s %7d %12.2f %14.0f\n", bench, bcase,
		threads, ns, rate);
	printf("{\"bench\": \"%s\", \"case\": \"%s\", \"threads\": %d, "
	       "\"ops\": %llu, \"ns_per_op\": %.3f, \"ops_per_sec\": %.0f%s%s}\n",
	       bench, bcase, threads, (unsigned long long)ops, ns, rate,
	       extra ? ", " : "", extra ? extra : "");
	fflush(stdout);
}

const char *bench_cpu_model(void)
{
	static char model[128] = "unknown";
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return model;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');

			if (p) {
				snprintf(model, sizeof(model), "%s", p + 2);
				model[strcspn(model, "\n")] = '\0';
			}
			break;
		}
	}
	fclose(f);
	return model;
}
