// SPDX-License-Identifier: MIT
/*
 * ipwall: the command-line client of ipwalld (docs/cli.md).
 *
 * Design. One getopt_long() pass reads the global options and every
 * command's options wherever they appear on the line (GNU argument
 * permutation, made explicit with a leading '-' in the option string so
 * that POSIXLY_CORRECT cannot change it); the first non-option word is the
 * command, the rest are its arguments. Each command then says which
 * options it takes, and any other one is a usage error rather than being
 * silently ignored. Arguments are checked here, with libipwall's own
 * parsers, before anything is sent, so bad input gets exit status 2 and a
 * message that points at the offending byte.
 *
 * Each command is one function that sends its requests over one connection
 * (client.c) and returns the exit status. Output goes to stdout (tables or,
 * with --json, the daemon's JSON); errors go to stderr, one line each.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/addr.h>
#include <ipwall/duration.h>

#include "cli.h"

#define DEFAULT_TIMEOUT_MS 30000L
#define LOCAL_SOCKET	   "./var/ipwalld.sock"
#define SYSTEM_SOCKET	   "/run/ipwalld/ipwalld.sock"

/* Options a command may take; the bit is 1 << (opt - OPT_FIRST_CMD). */
enum opt {
	OPT_SERVER = 256,
	OPT_TOKEN,
	OPT_SOCKET,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_VERSION,
	OPT_CACERT,
	OPT_FIRST_CMD,
	OPT_TTL = OPT_FIRST_CMD,
	OPT_REASON,
	OPT_SCORE,
	OPT_SOURCE,
	OPT_ALLOWS,
	OPT_LIMIT,
	OPT_FAMILY,
	OPT_WITHIN,
	OPT_KIND,
	OPT_AUTO,
	OPT_ALL,
	OPT_STRICT,
	OPT_BATCH,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_ACTION,
	OPT_COUNT,
	OPT_SCOPE,
	OPT_FILE,
	OPT_DROPS,
	OPT_SERVICE,
	OPT_USER,
	OPT_DETAIL,
	OPT_END,
};

#define NCMDOPTS (OPT_END - OPT_FIRST_CMD)
#define BIT(o)	 (1u << ((o)-OPT_FIRST_CMD))

static const struct option long_opts[] = {
	{"server", required_argument, NULL, OPT_SERVER},
	{"token", required_argument, NULL, OPT_TOKEN},
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"json", no_argument, NULL, OPT_JSON},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{"cacert", required_argument, NULL, OPT_CACERT},
	{"ttl", required_argument, NULL, OPT_TTL},
	{"reason", required_argument, NULL, OPT_REASON},
	{"score", required_argument, NULL, OPT_SCORE},
	{"source", required_argument, NULL, OPT_SOURCE},
	{"allows", no_argument, NULL, OPT_ALLOWS},
	{"limit", required_argument, NULL, OPT_LIMIT},
	{"family", required_argument, NULL, OPT_FAMILY},
	{"within", required_argument, NULL, OPT_WITHIN},
	{"kind", required_argument, NULL, OPT_KIND},
	{"auto", required_argument, NULL, OPT_AUTO},
	{"all", no_argument, NULL, OPT_ALL},
	{"strict", no_argument, NULL, OPT_STRICT},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"since", required_argument, NULL, OPT_SINCE},
	{"until", required_argument, NULL, OPT_UNTIL},
	{"action", required_argument, NULL, OPT_ACTION},
	{"count", no_argument, NULL, OPT_COUNT},
	{"scope", required_argument, NULL, OPT_SCOPE},
	{"file", required_argument, NULL, OPT_FILE},
	{"drops", no_argument, NULL, OPT_DROPS},
	{"service", required_argument, NULL, OPT_SERVICE},
	{"user", required_argument, NULL, OPT_USER},
	{"detail", required_argument, NULL, OPT_DETAIL},
	{NULL, 0, NULL, 0},
};

struct ctx {
	struct cli_target target;
	struct cli_conn *conn;
	const char *opt[NCMDOPTS]; /* argument, or "" for a flag; NULL unset */
	char **args;		   /* the command's arguments */
	int nargs;
};

static const char *opt_val(const struct ctx *x, enum opt o)
{
	return x->opt[o - OPT_FIRST_CMD];
}

static const char usage_text[] =
	"Usage: ipwall [OPTIONS] COMMAND [ARGS] [OPTIONS]\n"
	"\n"
	"The command-line client of ipwalld, the ipwall daemon.\n"
	"\n"
	"Commands:\n"
	"  ban TARGET [--ttl D] [--reason R] [--score N] [--source S]\n"
	"                        ban an address or CIDR prefix\n"
	"  unban TARGET          remove a ban\n"
	"  allow TARGET [--ttl D] [--reason R] [--source S]\n"
	"                        allow an address or prefix (allow beats ban)\n"
	"  disallow TARGET       remove an allow\n"
	"  check IP              the verdict for one address\n"
	"  report IP TYPE [--service S] [--user U] [--detail D]\n"
	"                        report a failure (ssh_auth_fail, ...) to the\n"
	"                        auto-ban engine\n"
	"  report --file FILE|-  report one failure a line:\n"
	"                        IP TYPE [SERVICE [USER [DETAIL...]]]\n"
	"  ls [--allows] [--limit N] [--family 4|6] [--within CIDR]\n"
	"     [--kind address|prefix] [--auto true|false] [--all]\n"
	"                        list bans (or allows), one page or --all\n"
	"  top [K] [--drops]     the K (default 10) entries with most hits, or\n"
	"                        the bans the kernel dropped most packets for\n"
	"  mode [denylist|allowlist]\n"
	"                        show or set the policy mode\n"
	"  import FILE|- [--allows] [--ttl D] [--reason R] [--strict] [--batch "
	"N]\n"
	"                        load a list file (plain, Spamhaus DROP, "
	"FireHOL)\n"
	"  export [--allows] [FILE]\n"
	"                        write every ban (or allow) as a list file\n"
	"  stats                 table sizes and counters\n"
	"  cluster [status]      cluster members, their lag, the stream\n"
	"  history TARGET [--since T] [--until T] [--action A] [--limit N] "
	"[--all]\n"
	"                        the ops of a target, newest first\n"
	"  history --count TARGET [--since T]\n"
	"                        how often it (and its /24 or /64) was "
	"banned\n"
	"  token add NAME --scope check|report|ban|admin [--file F]\n"
	"                        add a token to ipwalld's tokens file and "
	"print\n"
	"                        its secret (then reload ipwalld)\n"
	"  token list [--file F]  the tokens' names and scopes\n"
	"  token remove NAME [--file F]\n"
	"                        remove a token (then reload ipwalld)\n"
	"                        F: $IPWALL_TOKENS_FILE, else ./var/tokens\n"
	"\n"
	"Global options (before or after the command):\n"
	"  --server URL          talk to ipwalld over TCP, e.g.\n"
	"                        http://127.0.0.1:7420 (default: the unix "
	"socket)\n"
	"  --token T             bearer token for writes over TCP\n"
	"                        (default: $IPWALL_TOKEN)\n"
	"  --cacert FILE         CA certificate(s) to verify an https:// "
	"server\n"
	"                        with (default: $IPWALL_CACERT, else the "
	"system's)\n"
	"  --socket PATH         the daemon's unix socket; default: "
	"$IPWALL_SOCKET,\n"
	"                        else " LOCAL_SOCKET " if it exists,\n"
	"                        else " SYSTEM_SOCKET "\n"
	"  --json                print JSON instead of tables\n"
	"  --timeout D           per-request timeout (default 30s; 0: none)\n"
	"  -h, --help            this text\n"
	"  --version             the client's version\n"
	"\n"
	"D is a duration: 600, 30s, 10m, 2h, 7d, 1h30m; a --ttl of 0 is "
	"permanent.\n"
	"T is a Unix time (1700000000) or a duration back from now with a "
	"unit (7d).\n"
	"\n"
	"Exit status:\n"
	"  0  success (check: admitted)\n"
	"  1  check: blocked\n"
	"  2  usage error or bad input (import: some lines were bad)\n"
	"  3  the daemon refused the request (HTTP 4xx; import: some entries;\n"
	"     report: some events were refused or dropped)\n"
	"  4  cannot connect, timeout, HTTP 5xx or a protocol error\n";

struct command {
	const char *name;
	int min_args, max_args;
	unsigned opts; /* BIT()s of the command options it takes */
	int (*run)(struct ctx *x);
	bool no_conn; /* needs no connection */
};

static int add_common(json_t *o, const struct ctx *x, bool ban)
{
	const char *reason = opt_val(x, OPT_REASON);
	const char *source = opt_val(x, OPT_SOURCE);
	const char *ttl = opt_val(x, OPT_TTL);
	const char *score = opt_val(x, OPT_SCORE);
	uint64_t v;
	int rc;

	if (ttl) {
		rc = cli_parse_duration("--ttl", ttl, &v);
		if (rc)
			return rc;
		json_object_set_new(o, "ttl", json_integer((json_int_t)v));
	}
	if (ban && score) {
		rc = cli_parse_uint("--score", score, 0, 1000000, &v);
		if (rc)
			return rc;
		json_object_set_new(o, "score", json_integer((json_int_t)v));
	}
	if (reason) {
		json_t *s = json_string(reason);

		if (!s)
			return cli_usage_error("--reason: not valid UTF-8");
		json_object_set_new(o, "reason", s);
	}
	if (source) {
		json_t *s = json_string(source);

		if (!s)
			return cli_usage_error("--source: not valid UTF-8");
		json_object_set_new(o, "source", s);
	}
	return 0;
}

/* Send @body as JSON with @method to @path; the reply goes to @r. */
static int post_json(struct ctx *x, const char *method, const char *path,
		     json_t *body, struct cli_reply *r)
{
	char *text = json_dumps(body, JSON_COMPACT);
	int rc;

	if (!text)
		return cli_error(CLI_EXIT_USAGE, "out of memory");
	rc = cli_request(x->conn, method, path, text, strlen(text), r);
	free(text);
	return rc;
}

static bool success(const struct cli_reply *r)
{
	return r->status == 200 || r->status == 201;
}

/* ban and allow */
static int add_entry(struct ctx *x, bool ban)
{
	char canon[IPW_ADDR_STRLEN], exp[128], pr[64], pt[64];
	struct cli_reply r;
	json_t *body;
	int rc;

	rc = cli_parse_target(NULL, x->args[0], false, canon, sizeof(canon));
	if (rc)
		return rc;
	body = json_object();
	if (!body)
		return cli_error(CLI_EXIT_USAGE, "out of memory");
	json_object_set_new(body, "target", json_string(canon));
	rc = add_common(body, x, ban);
	if (!rc)
		rc = post_json(x, "POST", ban ? "/v1/bans" : "/v1/allow", body,
			       &r);
	json_decref(body);
	if (rc)
		return rc;
	if (!success(&r)) {
		rc = cli_reply_fail(&r, NULL);
	} else if (x->target.json) {
		rc = cli_print_json(r.body);
	} else {
		const char *res =
			json_string_value(json_object_get(r.body, "result"));
		const json_t *e = json_object_get(r.body, "entry");
		const char *t = json_string_value(json_object_get(e, "target"));

		printf("%s %s %s, %s\n",
		       cli_printable(res ? res : "done", pr, sizeof(pr)),
		       ban ? "ban" : "allow",
		       t ? cli_printable(t, pt, sizeof(pt)) : canon,
		       cli_expiry_text(e, exp, sizeof(exp)));
	}
	json_decref(r.body);
	return rc;
}

static int cmd_ban(struct ctx *x)
{
	return add_entry(x, true);
}

static int cmd_allow(struct ctx *x)
{
	return add_entry(x, false);
}

/* unban and disallow */
static int remove_entry(struct ctx *x, bool ban)
{
	char canon[IPW_ADDR_STRLEN];
	struct cli_buf path = {0};
	struct cli_reply r;
	int rc;

	rc = cli_parse_target(NULL, x->args[0], false, canon, sizeof(canon));
	if (rc)
		return rc;
	if (cli_buf_addf(&path, "%s", ban ? "/v1/bans" : "/v1/allow") ||
	    cli_buf_param(&path, "target", canon)) {
		cli_buf_free(&path);
		return CLI_EXIT_USAGE;
	}
	rc = cli_request(x->conn, "DELETE", path.data, NULL, 0, &r);
	cli_buf_free(&path);
	if (rc)
		return rc;
	if (!success(&r)) {
		rc = cli_reply_fail(&r, NULL);
	} else if (x->target.json) {
		rc = cli_print_json(r.body);
	} else {
		const char *res =
			json_string_value(json_object_get(r.body, "result"));

		if (res && strcmp(res, "removed") == 0)
			printf("removed %s %s\n", ban ? "ban" : "allow", canon);
		else if (res && strcmp(res, "absent") == 0)
			printf("no %s on %s (nothing removed)\n",
			       ban ? "ban" : "allow", canon);
		else
			rc = cli_reply_fail(&r, NULL);
	}
	json_decref(r.body);
	return rc;
}

static int cmd_unban(struct ctx *x)
{
	return remove_entry(x, true);
}

static int cmd_disallow(struct ctx *x)
{
	return remove_entry(x, false);
}

static int cmd_check(struct ctx *x)
{
	char canon[IPW_ADDR_STRLEN], exp[128], p1[128], p2[64];
	struct cli_buf path = {0};
	struct cli_reply r;
	const char *verdict, *reason, *mode, *et;
	const json_t *e;
	int rc;

	rc = cli_parse_target(NULL, x->args[0], true, canon, sizeof(canon));
	if (rc)
		return rc;
	if (cli_buf_addf(&path, "/v1/check") ||
	    cli_buf_param(&path, "ip", canon)) {
		cli_buf_free(&path);
		return CLI_EXIT_USAGE;
	}
	rc = cli_request(x->conn, "GET", path.data, NULL, 0, &r);
	cli_buf_free(&path);
	if (rc)
		return rc;

	verdict = json_string_value(json_object_get(r.body, "verdict"));
	if ((r.status != 200 && r.status != 403) || !verdict) {
		rc = cli_reply_fail(&r, NULL);
		goto out;
	}
	/* The status and the verdict say the same thing, or the daemon is
	 * not speaking docs/api.md. */
	if (strcmp(verdict, r.status == 200 ? "admitted" : "blocked") != 0) {
		rc = cli_error(CLI_EXIT_UNAVAILABLE,
			       "protocol error: HTTP %ld with verdict \"%s\"",
			       r.status,
			       cli_printable(verdict, p1, sizeof(p1)));
		goto out;
	}
	rc = r.status == 200 ? CLI_EXIT_OK : CLI_EXIT_BLOCKED;
	if (x->target.json) {
		if (cli_print_json(r.body))
			rc = CLI_EXIT_UNAVAILABLE;
		goto out;
	}

	reason = json_string_value(json_object_get(r.body, "reason"));
	mode = json_string_value(json_object_get(r.body, "mode"));
	e = json_object_get(r.body, "entry");
	et = json_string_value(json_object_get(e, "target"));
	if (!reason)
		reason = "";
	if (!mode)
		mode = "?";
	if (strcmp(reason, "banned") == 0 && et)
		printf("%s: blocked, banned by %s (%s)\n", canon,
		       cli_printable(et, p1, sizeof(p1)),
		       cli_expiry_text(e, exp, sizeof(exp)));
	else if (strcmp(reason, "allowed") == 0 && et)
		printf("%s: admitted, allowed by %s (%s)\n", canon,
		       cli_printable(et, p1, sizeof(p1)),
		       cli_expiry_text(e, exp, sizeof(exp)));
	else if (strcmp(reason, "no_match") == 0)
		printf("%s: admitted, no ban matches (%s mode)\n", canon,
		       cli_printable(mode, p2, sizeof(p2)));
	else if (strcmp(reason, "not_allowed") == 0)
		printf("%s: blocked, no allow matches (%s mode)\n", canon,
		       cli_printable(mode, p2, sizeof(p2)));
	else
		printf("%s: %s (%s)\n", canon, verdict,
		       cli_printable(reason, p1, sizeof(p1)));
out:
	json_decref(r.body);
	return rc;
}

/*
 * report IP TYPE: one event for POST /v1/events, every field sent as given:
 * the daemon checks them (and says why in its own words), the client only
 * needs them to be UTF-8 to be JSON.
 */
static int report_one(struct ctx *x)
{
	const char *what[] = {"IP", "TYPE", "--service", "--user", "--detail"};
	const char *name[] = {"ip", "type", "service", "user", "detail"};
	const char *val[] = {x->args[0], x->args[1], opt_val(x, OPT_SERVICE),
			     opt_val(x, OPT_USER), opt_val(x, OPT_DETAIL)};
	char pi[IPW_ADDR_STRLEN + 16], pt[64];
	struct cli_reply r;
	json_t *body;
	int rc;

	body = json_object();
	if (!body)
		return cli_error(CLI_EXIT_USAGE, "out of memory");
	for (size_t i = 0; i < sizeof(val) / sizeof(val[0]); i++) {
		json_t *s;

		if (!val[i])
			continue;
		s = json_string(val[i]);
		if (!s) {
			json_decref(body);
			return cli_usage_error("%s: not valid UTF-8", what[i]);
		}
		json_object_set_new(body, name[i], s);
	}
	rc = post_json(x, "POST", "/v1/events", body, &r);
	json_decref(body);
	if (rc)
		return rc;
	cli_printable(val[0], pi, sizeof(pi));
	cli_printable(val[1], pt, sizeof(pt));
	if (r.status == 202 &&
	    json_is_integer(json_object_get(r.body, "queued"))) {
		bool queued = json_integer_value(
				      json_object_get(r.body, "queued")) > 0;

		rc = queued ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
		if (x->target.json && cli_print_json(r.body))
			rc = CLI_EXIT_UNAVAILABLE;
		else if (!x->target.json)
			printf("reported %s %s (%s)\n", pi, pt,
			       queued ? "queued" :
					"dropped: the engine's queue was full");
	} else if (r.status == 429 && !x->target.json &&
		   strcmp(cli_error_code(r.body), "events_queue_full") == 0) {
		/* Load shedding, said as an outcome of the report; the
		 * status still tells a script that it was lost. */
		printf("reported %s %s (dropped: the engine's queue was "
		       "full)\n",
		       pi, pt);
		rc = CLI_EXIT_REFUSED;
	} else {
		rc = cli_reply_fail(&r, NULL);
	}
	json_decref(r.body);
	return rc;
}

static int cmd_report(struct ctx *x)
{
	const char *file = opt_val(x, OPT_FILE);

	if (file) {
		if (x->nargs || opt_val(x, OPT_SERVICE) ||
		    opt_val(x, OPT_USER) || opt_val(x, OPT_DETAIL))
			return cli_usage_error("report --file takes no IP, "
					       "TYPE, --service, --user or "
					       "--detail: each line has them");
		return cli_cmd_report_file(x->conn, &x->target, file);
	}
	if (x->nargs != 2)
		return cli_usage_error("'report' needs IP and TYPE, or "
				       "--file FILE");
	return report_one(x);
}

/* The query of GET /v1/bans for ls's options, without cursor. */
static int ls_query(struct ctx *x, struct cli_buf *q, bool all)
{
	const char *limit = opt_val(x, OPT_LIMIT);
	const char *family = opt_val(x, OPT_FAMILY);
	const char *within = opt_val(x, OPT_WITHIN);
	const char *kind = opt_val(x, OPT_KIND);
	const char *autov = opt_val(x, OPT_AUTO);
	char canon[IPW_ADDR_STRLEN];
	uint64_t v;
	int rc;

	if (cli_buf_addf(q, "%s",
			 opt_val(x, OPT_ALLOWS) ? "/v1/allow" : "/v1/bans"))
		return CLI_EXIT_USAGE;
	if (limit) {
		rc = cli_parse_uint("--limit", limit, 1, 10000, &v);
		if (rc)
			return rc;
	} else {
		v = all ? 10000 : 0;
	}
	if (v) {
		char n[24];

		snprintf(n, sizeof(n), "%llu", (unsigned long long)v);
		if (cli_buf_param(q, "limit", n))
			return CLI_EXIT_USAGE;
	}
	if (family) {
		if (strcmp(family, "4") != 0 && strcmp(family, "6") != 0)
			return cli_usage_error(
				"--family: \"%s\" is not 4 or 6",
				cli_printable(family, canon, sizeof(canon)));
		if (cli_buf_param(q, "family", family))
			return CLI_EXIT_USAGE;
	}
	if (within) {
		rc = cli_parse_target("--within", within, false, canon,
				      sizeof(canon));
		if (rc)
			return rc;
		if (cli_buf_param(q, "within", canon))
			return CLI_EXIT_USAGE;
	}
	if (kind) {
		if (strcmp(kind, "address") != 0 && strcmp(kind, "prefix") != 0)
			return cli_usage_error(
				"--kind: \"%s\" is not address "
				"or prefix",
				cli_printable(kind, canon, sizeof(canon)));
		if (cli_buf_param(q, "kind", kind))
			return CLI_EXIT_USAGE;
	}
	if (autov) {
		if (strcmp(autov, "true") != 0 && strcmp(autov, "false") != 0)
			return cli_usage_error(
				"--auto: \"%s\" is not true or "
				"false",
				cli_printable(autov, canon, sizeof(canon)));
		if (cli_buf_param(q, "auto", autov))
			return CLI_EXIT_USAGE;
	}
	return 0;
}

static int cmd_ls(struct ctx *x)
{
	bool allows = opt_val(x, OPT_ALLOWS) != NULL;
	bool every = opt_val(x, OPT_ALL) != NULL;
	struct cli_table table = {.cols = allows ? CLI_COLS_ALLOWS :
						   CLI_COLS_BANS};
	struct cli_buf base = {0}, path = {0};
	char *cursor = NULL;
	size_t pages = 0, count = 0;
	int rc;

	rc = ls_query(x, &base, every);
	if (rc)
		goto out;
	for (;;) {
		struct cli_reply r;
		const json_t *items, *next;

		path.len = 0;
		if (cli_buf_add(&path, base.data, base.len) ||
		    (cursor && cli_buf_param(&path, "cursor", cursor))) {
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		rc = cli_request(x->conn, "GET", path.data, NULL, 0, &r);
		if (rc)
			goto out;
		items = json_object_get(r.body, "items");
		next = json_object_get(r.body, "next");
		if (r.status != 200 || !json_is_array(items) ||
		    !(json_is_null(next) || json_is_string(next))) {
			rc = cli_reply_fail(&r, NULL);
			json_decref(r.body);
			goto out;
		}
		if (x->target.json && !every) {
			rc = cli_print_json(r.body);
		} else if (x->target.json) {
			const json_t *e;
			size_t i;

			fputs(pages == 0 ? "{\"items\": [" : "", stdout);
			json_array_foreach(items, i, e)
			{
				fputs((count + i) ? ",\n" : "\n", stdout);
				json_dumpf(e, stdout,
					   JSON_COMPACT | JSON_PRESERVE_ORDER);
			}
		} else {
			cli_table_print(&table, items);
		}
		count += json_array_size(items);
		pages++;
		if (json_is_null(next) || !every) {
			if (!every && json_is_string(next) && !x->target.json)
				fprintf(stderr, "ipwall: note: more entries "
						"follow; --all lists them "
						"all\n");
			json_decref(r.body);
			break;
		}
		rc = cli_next_cursor(&cursor, next);
		json_decref(r.body);
		if (rc)
			goto out;
	}
	if (x->target.json && every)
		fputs("\n], \"next\": null}\n", stdout);
out:
	free(cursor);
	cli_buf_free(&base);
	cli_buf_free(&path);
	return rc;
}

static int cmd_top(struct ctx *x)
{
	bool drops = opt_val(x, OPT_DROPS) != NULL;
	struct cli_table table = {.cols = drops ? CLI_COLS_DROPS :
						  CLI_COLS_TOP};
	struct cli_buf path = {0};
	struct cli_reply r;
	const json_t *items;
	uint64_t k = 10;
	int rc;

	if (x->nargs) {
		rc = cli_parse_uint("K", x->args[0], 1, 1000, &k);
		if (rc)
			return rc;
	}
	if (cli_buf_addf(&path, "/v1/top?k=%llu%s", (unsigned long long)k,
			 drops ? "&by=drops" : ""))
		return CLI_EXIT_USAGE;
	rc = cli_request(x->conn, "GET", path.data, NULL, 0, &r);
	cli_buf_free(&path);
	if (rc)
		return rc;
	items = json_object_get(r.body, "items");
	if (r.status != 200 || !json_is_array(items))
		rc = cli_reply_fail(&r, NULL);
	else if (x->target.json)
		rc = cli_print_json(r.body);
	else
		cli_table_print(&table, items);
	json_decref(r.body);
	return rc;
}

static int cmd_mode(struct ctx *x)
{
	struct cli_reply r;
	const char *mode, *res;
	char p1[64], p2[64];
	int rc;

	if (x->nargs) {
		json_t *body;

		if (strcmp(x->args[0], "denylist") != 0 &&
		    strcmp(x->args[0], "allowlist") != 0)
			return cli_usage_error(
				"mode: \"%s\" is not denylist or "
				"allowlist",
				cli_printable(x->args[0], p1, sizeof(p1)));
		body = json_pack("{s:s}", "mode", x->args[0]);
		if (!body)
			return cli_error(CLI_EXIT_USAGE, "out of memory");
		rc = post_json(x, "PUT", "/v1/mode", body, &r);
		json_decref(body);
	} else {
		rc = cli_request(x->conn, "GET", "/v1/mode", NULL, 0, &r);
	}
	if (rc)
		return rc;
	mode = json_string_value(json_object_get(r.body, "mode"));
	res = json_string_value(json_object_get(r.body, "result"));
	if (r.status != 200 || !mode)
		rc = cli_reply_fail(&r, NULL);
	else if (x->target.json)
		rc = cli_print_json(r.body);
	else if (res)
		printf("%s (%s)\n", cli_printable(mode, p1, sizeof(p1)),
		       cli_printable(res, p2, sizeof(p2)));
	else
		printf("%s\n", cli_printable(mode, p1, sizeof(p1)));
	json_decref(r.body);
	return rc;
}

/* Print nested objects as "a.b.c  value" lines, keys padded to @w.
 * Recursive over the nesting of /v1/stats (three levels). */
// NOLINTNEXTLINE(misc-no-recursion)
static void print_flat(const json_t *v, char *key, size_t klen, size_t size)
{
	const char *k;
	const json_t *m;
	char buf[512];

	if (!json_is_object(v)) {
		char *s = json_is_string(v) ?
				  NULL :
				  json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		printf("%-28s  %s\n", key,
		       cli_printable(s ? s : json_string_value(v), buf,
				     sizeof(buf)));
		free(s);
		return;
	}
	json_object_foreach((json_t *)v, k, m)
	{
		int n = snprintf(key + klen, size - klen, "%s%s",
				 klen ? "." : "", k);

		if (n < 0 || (size_t)n >= size - klen)
			continue;
		print_flat(m, key, klen + (size_t)n, size);
		key[klen] = '\0';
	}
}

static int cmd_stats(struct ctx *x)
{
	struct cli_reply r;
	char key[256] = "";
	int rc;

	rc = cli_request(x->conn, "GET", "/v1/stats", NULL, 0, &r);
	if (rc)
		return rc;
	if (r.status != 200)
		rc = cli_reply_fail(&r, NULL);
	else if (x->target.json)
		rc = cli_print_json(r.body);
	else
		print_flat(r.body, key, 0, sizeof(key));
	json_decref(r.body);
	return rc;
}

/* ipwall cluster [status]: the members the stream's Redis has seen,
 * each one's lag and backlog, and the stream (GET /v1/cluster). */
static int cmd_cluster(struct ctx *x)
{
	struct cli_reply r;
	const json_t *st, *m;
	size_t i;
	int rc;

	if (x->nargs && strcmp(x->args[0], "status") != 0)
		return cli_usage_error("cluster: the only command is status");
	rc = cli_request(x->conn, "GET", "/v1/cluster", NULL, 0, &r);
	if (rc)
		return rc;
	if (r.status != 200) {
		rc = cli_reply_fail(&r, NULL);
	} else if (x->target.json) {
		rc = cli_print_json(r.body);
	} else {
		st = json_object_get(r.body, "stream");
		printf("node %s, mode %s, %s\n",
		       json_string_value(json_object_get(r.body, "node")),
		       json_string_value(json_object_get(
			       json_object_get(r.body, "health"), "mode")),
		       json_is_true(json_object_get(
			       json_object_get(r.body, "health"),
			       "connected")) ?
			       "connected" :
			       "NOT connected");
		printf("stream %s: %lld entries, last %s, position %s\n",
		       json_string_value(json_object_get(st, "key")),
		       (long long)json_integer_value(
			       json_object_get(st, "length")),
		       json_string_value(json_object_get(st, "last_id")),
		       json_string_value(json_object_get(r.body, "position")));
		printf("%-24s %-6s %10s %12s %10s %8s\n", "MEMBER", "MODE",
		       "SEEN(s)", "LAG(ops)", "LAG(s)", "BACKLOG");
		json_array_foreach(json_object_get(r.body, "members"), i, m)
		{
			printf("%-24s %-6s %10.1f %12lld %10.3f %8lld\n",
			       json_string_value(json_object_get(m, "node")),
			       json_string_value(json_object_get(m, "mode")),
			       json_number_value(
				       json_object_get(m, "seen_seconds_ago")),
			       (long long)json_integer_value(
				       json_object_get(m, "lag_ops")),
			       json_number_value(
				       json_object_get(m, "lag_seconds")),
			       (long long)json_integer_value(
				       json_object_get(m, "backlog")));
		}
	}
	json_decref(r.body);
	return rc;
}

static int cmd_import(struct ctx *x)
{
	struct cli_import_opts o = {
		.file = x->args[0],
		.allows = opt_val(x, OPT_ALLOWS) != NULL,
		.strict = opt_val(x, OPT_STRICT) != NULL,
		.reason = opt_val(x, OPT_REASON),
		.batch = 10000,
	};
	uint64_t v;
	int rc;

	if (opt_val(x, OPT_TTL)) {
		rc = cli_parse_duration("--ttl", opt_val(x, OPT_TTL), &o.ttl);
		if (rc)
			return rc;
		o.has_ttl = true;
	}
	if (opt_val(x, OPT_BATCH)) {
		rc = cli_parse_uint("--batch", opt_val(x, OPT_BATCH), 1,
				    1000000, &v);
		if (rc)
			return rc;
		o.batch = (size_t)v;
	}
	if (o.reason) {
		json_t *s = json_string(o.reason);

		if (!s)
			return cli_usage_error("--reason: not valid UTF-8");
		json_decref(s);
	}
	return cli_cmd_import(x->conn, &x->target, &o);
}

static int cmd_export(struct ctx *x)
{
	return cli_cmd_export(x->conn, &x->target,
			      opt_val(x, OPT_ALLOWS) != NULL,
			      x->nargs ? x->args[0] : NULL);
}

/* --since/--until: a Unix time or a duration with a unit, sent as
 * given (the daemon counts a duration back from its own clock). */
static int history_time(const char *what, const char *s)
{
	uint64_t v;
	size_t i;
	char q[64];

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i > 0 && s[i] == '\0')
		return cli_parse_uint(what, s, 0, UINT64_C(253402300799), &v);
	if (ipw_duration_parse(s, strlen(s), &v, NULL) != 0)
		return cli_usage_error(
			"%s: \"%s\" is neither a Unix time nor a "
			"duration with a unit (7d, 12h, 30m)",
			what, cli_printable(s, q, sizeof(q)));
	return 0;
}

/* The query of GET /v1/history (or /count) for history's options, no
 * cursor. */
static int history_query(struct ctx *x, const char *canon, bool count,
			 struct cli_buf *q)
{
	static const char *const actions[] = {
		"ban", "unban", "allow", "disallow", "expire", "evict", NULL};
	const char *since = opt_val(x, OPT_SINCE),
		   *until = opt_val(x, OPT_UNTIL);
	const char *action = opt_val(x, OPT_ACTION),
		   *limit = opt_val(x, OPT_LIMIT);
	char p[64];
	uint64_t v;
	int rc, i;

	if (cli_buf_addf(q, "%s",
			 count ? "/v1/history/count" : "/v1/history") ||
	    cli_buf_param(q, "target", canon))
		return CLI_EXIT_USAGE;
	if (since) {
		rc = history_time("--since", since);
		if (rc || cli_buf_param(q, "since", since))
			return rc ? rc : CLI_EXIT_USAGE;
	}
	if (until) {
		rc = history_time("--until", until);
		if (rc || cli_buf_param(q, "until", until))
			return rc ? rc : CLI_EXIT_USAGE;
	}
	if (action) {
		for (i = 0; actions[i] && strcmp(actions[i], action) != 0; i++)
			;
		if (!actions[i])
			return cli_usage_error(
				"--action: \"%s\" is not ban, unban, allow, "
				"disallow, expire or evict",
				cli_printable(action, p, sizeof(p)));
		if (cli_buf_param(q, "action", action))
			return CLI_EXIT_USAGE;
	}
	if (limit || opt_val(x, OPT_ALL)) {
		v = 1000;
		if (limit) {
			rc = cli_parse_uint("--limit", limit, 1, 1000, &v);
			if (rc)
				return rc;
		}
		snprintf(p, sizeof(p), "%llu", (unsigned long long)v);
		if (cli_buf_param(q, "limit", p))
			return CLI_EXIT_USAGE;
	}
	return 0;
}

/* history --count: the bans of the target (and its /24 or /64). */
static int history_count(struct ctx *x, const char *path)
{
	char p1[64], when[64];
	const json_t *bans, *since;
	struct cli_reply r;
	const char *k;
	json_t *n;
	int rc;

	rc = cli_request(x->conn, "GET", path, NULL, 0, &r);
	if (rc)
		return rc;
	bans = json_object_get(r.body, "bans");
	since = json_object_get(r.body, "since");
	if (r.status != 200 || !json_is_object(bans) ||
	    !json_is_string(json_object_get(r.body, "target"))) {
		rc = cli_reply_fail(&r, NULL);
	} else if (x->target.json) {
		rc = cli_print_json(r.body);
	} else {
		if (json_is_integer(since)) {
			time_t t = (time_t)json_integer_value(since);
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "since %Y-%m-%dT%H:%M:%SZ",
				 &tm);
		} else {
			snprintf(when, sizeof(when), "in all the history");
		}
		json_object_foreach((json_t *)bans, k, n)
		{
			const char *t =
				strcmp(k, "target") == 0 ?
					json_string_value(json_object_get(
						r.body, "target")) :
					json_string_value(json_object_get(
						r.body, "network"));

			printf("%-20s banned %" JSON_INTEGER_FORMAT
			       " time%s %s\n",
			       cli_printable(t ? t : k, p1, sizeof(p1)),
			       json_integer_value(n),
			       json_integer_value(n) == 1 ? "" : "s", when);
		}
	}
	json_decref(r.body);
	return rc;
}

static int cmd_history(struct ctx *x)
{
	bool count = opt_val(x, OPT_COUNT) != NULL;
	bool every = opt_val(x, OPT_ALL) != NULL;
	struct cli_table table = {.cols = CLI_COLS_HISTORY};
	struct cli_buf base = {0}, path = {0};
	char canon[IPW_ADDR_STRLEN];
	char *cursor = NULL;
	size_t pages = 0, count_ops = 0;
	int rc;

	if (count && (opt_val(x, OPT_UNTIL) || opt_val(x, OPT_ACTION) ||
		      opt_val(x, OPT_LIMIT) || every))
		return cli_usage_error("history --count takes --since only");
	rc = cli_parse_target(NULL, x->args[0], false, canon, sizeof(canon));
	if (rc)
		return rc;
	rc = history_query(x, canon, count, &base);
	if (rc)
		goto out;
	if (count) {
		rc = history_count(x, base.data);
		goto out;
	}
	for (;;) {
		struct cli_reply r;
		const json_t *ops, *next;

		path.len = 0;
		if (cli_buf_add(&path, base.data, base.len) ||
		    (cursor && cli_buf_param(&path, "cursor", cursor))) {
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		rc = cli_request(x->conn, "GET", path.data, NULL, 0, &r);
		if (rc)
			goto out;
		ops = json_object_get(r.body, "ops");
		next = json_object_get(r.body, "next_cursor");
		if (r.status != 200 || !json_is_array(ops) ||
		    !(json_is_null(next) || json_is_string(next))) {
			rc = cli_reply_fail(&r, NULL);
			json_decref(r.body);
			goto out;
		}
		if (x->target.json && !every) {
			rc = cli_print_json(r.body);
		} else if (x->target.json) {
			const json_t *e;
			size_t i;

			if (pages == 0)
				printf("{\"target\": \"%s\", \"ops\": [",
				       canon);
			json_array_foreach(ops, i, e)
			{
				fputs((count_ops + i) ? ",\n" : "\n", stdout);
				json_dumpf(e, stdout,
					   JSON_COMPACT | JSON_PRESERVE_ORDER);
			}
		} else if (json_array_size(ops) || pages == 0) {
			if (pages == 0 && json_array_size(ops) == 0)
				printf("no ops on %s\n", canon);
			else
				cli_table_print(&table, ops);
		}
		count_ops += json_array_size(ops);
		pages++;
		if (json_is_null(next) || !every) {
			if (!every && json_is_string(next) && !x->target.json)
				fprintf(stderr, "ipwall: note: older ops "
						"follow; --all lists them "
						"all\n");
			json_decref(r.body);
			break;
		}
		rc = cli_next_cursor(&cursor, next);
		json_decref(r.body);
		if (rc)
			goto out;
	}
	if (x->target.json && every)
		fputs("\n], \"next_cursor\": null}\n", stdout);
out:
	free(cursor);
	cli_buf_free(&base);
	cli_buf_free(&path);
	return rc;
}

static int cmd_token(struct ctx *x)
{
	return cli_cmd_token(opt_val(x, OPT_FILE), x->args[0],
			     x->nargs > 1 ? x->args[1] : NULL,
			     opt_val(x, OPT_SCOPE));
}

static int cmd_help(struct ctx *x)
{
	(void)x;
	fputs(usage_text, stdout);
	return CLI_EXIT_OK;
}

static const struct command commands[] = {
	{"ban", 1, 1,
	 BIT(OPT_TTL) | BIT(OPT_REASON) | BIT(OPT_SCORE) | BIT(OPT_SOURCE),
	 cmd_ban, false},
	{"unban", 1, 1, 0, cmd_unban, false},
	{"allow", 1, 1, BIT(OPT_TTL) | BIT(OPT_REASON) | BIT(OPT_SOURCE),
	 cmd_allow, false},
	{"disallow", 1, 1, 0, cmd_disallow, false},
	{"check", 1, 1, 0, cmd_check, false},
	{"report", 0, 2,
	 BIT(OPT_SERVICE) | BIT(OPT_USER) | BIT(OPT_DETAIL) | BIT(OPT_FILE),
	 cmd_report, false},
	{"ls", 0, 0,
	 BIT(OPT_ALLOWS) | BIT(OPT_LIMIT) | BIT(OPT_FAMILY) | BIT(OPT_WITHIN) |
		 BIT(OPT_KIND) | BIT(OPT_AUTO) | BIT(OPT_ALL),
	 cmd_ls, false},
	{"top", 0, 1, BIT(OPT_DROPS), cmd_top, false},
	{"mode", 0, 1, 0, cmd_mode, false},
	{"import", 1, 1,
	 BIT(OPT_ALLOWS) | BIT(OPT_TTL) | BIT(OPT_REASON) | BIT(OPT_STRICT) |
		 BIT(OPT_BATCH),
	 cmd_import, false},
	{"export", 0, 1, BIT(OPT_ALLOWS), cmd_export, false},
	{"stats", 0, 0, 0, cmd_stats, false},
	{"cluster", 0, 1, 0, cmd_cluster, false},
	{"history", 1, 1,
	 BIT(OPT_SINCE) | BIT(OPT_UNTIL) | BIT(OPT_ACTION) | BIT(OPT_LIMIT) |
		 BIT(OPT_ALL) | BIT(OPT_COUNT),
	 cmd_history, false},
	{"token", 1, 2, BIT(OPT_SCOPE) | BIT(OPT_FILE), cmd_token, true},
	{"help", 0, 0, 0, cmd_help, true},
	{NULL, 0, 0, 0, NULL, false},
};

static const char *opt_name(int o)
{
	for (const struct option *p = long_opts; p->name; p++)
		if (p->val == o)
			return p->name;
	return "?";
}

/* Say why getopt_long() refused @arg. */
static int unknown_option(const char *arg, int optopt_val)
{
	const char *name = arg + 2, *eq;
	size_t len, matches = 0;
	char q[64];

	if (optopt_val >= OPT_SERVER)
		return cli_usage_error("option --%s takes no value",
				       opt_name(optopt_val));
	if (optopt_val)
		return cli_usage_error("unknown option '-%c'", optopt_val);
	if (strncmp(arg, "--", 2) != 0)
		return cli_usage_error("unknown option '%s'",
				       cli_printable(arg, q, sizeof(q)));
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	for (const struct option *p = long_opts; p->name; p++)
		if (strncmp(p->name, name, len) == 0)
			matches++;
	if (matches > 1)
		return cli_usage_error("option '%s' is ambiguous",
				       cli_printable(arg, q, sizeof(q)));
	return cli_usage_error("unknown option '%s'",
			       cli_printable(arg, q, sizeof(q)));
}

/* A token goes into a header line: no control bytes, no spaces. */
static int check_token(const char *what, const char *t)
{
	if (!*t)
		return cli_usage_error("%s: empty token", what);
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return cli_usage_error("%s: the token holds a space, "
					       "control or non-ASCII byte at "
					       "offset %zu",
					       what, (size_t)(p - t));
	return 0;
}

/* Accept "host:port" as "http://host:port"; refuse other schemes. */
static int check_server(const char *s, char **out)
{
	char q[128];

	if (!*s)
		return cli_usage_error("--server: empty URL");
	if (strpbrk(s, "?# \t\r\n"))
		return cli_usage_error("--server: \"%s\": a base URL has no "
				       "query, fragment or spaces",
				       cli_printable(s, q, sizeof(q)));
	if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) {
		*out = strdup(s);
	} else if (strstr(s, "://")) {
		return cli_usage_error("--server: \"%s\": only http:// and "
				       "https:// are supported",
				       cli_printable(s, q, sizeof(q)));
	} else {
		*out = malloc(strlen(s) + 8);
		if (*out)
			sprintf(*out, "http://%s", s);
	}
	if (!*out)
		return cli_error(CLI_EXIT_USAGE, "out of memory");
	return 0;
}

/* --socket, else $IPWALL_SOCKET, else ./var/ipwalld.sock if it exists,
 * else /run/ipwalld/ipwalld.sock. */
static const char *find_socket(const char *opt)
{
	const char *env = getenv("IPWALL_SOCKET");
	struct stat st;

	if (opt)
		return opt;
	if (env && *env)
		return env;
	if (stat(LOCAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode))
		return LOCAL_SOCKET;
	return SYSTEM_SOCKET;
}

int main(int argc, char **argv)
{
	const char *server = NULL, *token = NULL, *sock = NULL, *timeout = NULL;
	const char *cacert = NULL;
	struct ctx x = {.target = {.timeout_ms = DEFAULT_TIMEOUT_MS}};
	const struct command *cmd = NULL;
	char *server_url = NULL;
	char **pos;
	int npos = 0, o, rc;
	bool json = false;

	pos = calloc((size_t)argc + 1, sizeof(*pos));
	if (!pos)
		return cli_error(CLI_EXIT_USAGE, "out of memory");
	opterr = 0;
	while ((o = getopt_long(argc, argv, "-:h", long_opts, NULL)) != -1) {
		switch (o) {
		case 1:
			pos[npos++] = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			free(pos);
			return CLI_EXIT_OK;
		case OPT_VERSION:
			printf("ipwall %s\n", IPWALL_VERSION);
			free(pos);
			return CLI_EXIT_OK;
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_TOKEN:
			token = optarg;
			break;
		case OPT_SOCKET:
			sock = optarg;
			break;
		case OPT_CACERT:
			cacert = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_TIMEOUT:
			timeout = optarg;
			break;
		case ':':
			free(pos);
			if (optopt >= OPT_SERVER)
				return cli_usage_error("option --%s needs a "
						       "value",
						       opt_name(optopt));
			return cli_usage_error("option '%s' needs a value",
					       argv[optind - 1]);
		case '?':
			rc = unknown_option(argv[optind - 1], optopt);
			free(pos);
			return rc;
		default:
			x.opt[o - OPT_FIRST_CMD] = optarg ? optarg : "";
			break;
		}
	}
	/* After "--", getopt stops; the rest are arguments. */
	while (optind < argc)
		pos[npos++] = argv[optind++];

	if (npos == 0 || pos[0] == NULL) {
		rc = cli_usage_error("no command given");
		goto out;
	}
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, pos[0]) == 0)
			cmd = c;
	if (!cmd) {
		char q[64];

		rc = cli_usage_error("unknown command '%s'",
				     cli_printable(pos[0], q, sizeof(q)));
		goto out;
	}
	for (int i = 0; i < NCMDOPTS; i++) {
		if (x.opt[i] && !(cmd->opts & (1u << i))) {
			rc = cli_usage_error(
				"option --%s does not apply to '%s'",
				opt_name(OPT_FIRST_CMD + i), cmd->name);
			goto out;
		}
	}
	x.args = pos + 1;
	x.nargs = npos - 1;
	if (x.nargs < cmd->min_args) {
		rc = cli_usage_error("'%s' needs %s", cmd->name,
				     cmd->min_args == 1 ? "an argument" :
							  "more arguments");
		goto out;
	}
	if (x.nargs > cmd->max_args) {
		rc = cli_usage_error("too many arguments for '%s'", cmd->name);
		goto out;
	}
	if (server && sock) {
		rc = cli_usage_error("--server and --socket exclude each "
				     "other");
		goto out;
	}
	if (server) {
		rc = check_server(server, &server_url);
		if (rc)
			goto out;
	}
	if (!token) {
		token = getenv("IPWALL_TOKEN");
		if (token && !*token)
			token = NULL;
		if (token && check_token("IPWALL_TOKEN", token)) {
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	} else if (check_token("--token", token)) {
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (timeout) {
		uint64_t secs;

		rc = cli_parse_duration("--timeout", timeout, &secs);
		if (rc)
			goto out;
		x.target.timeout_ms = (long)secs * 1000;
	}
	x.target.server = server_url;
	x.target.socket = server_url ? NULL : find_socket(sock);
	x.target.token = token;
	x.target.json = json;
	/* $IPWALL_CACERT serves https:// servers only; --cacert given with
	 * anything else is a mistake worth saying. */
	if (!cacert && getenv("IPWALL_CACERT") && *getenv("IPWALL_CACERT") &&
	    server_url && strncmp(server_url, "https://", 8) == 0)
		cacert = getenv("IPWALL_CACERT");
	if (cacert) {
		if (access(cacert, R_OK) != 0) {
			rc = cli_usage_error("--cacert %s: %s", cacert,
					     strerror(errno));
			goto out;
		}
		if (!server_url || strncmp(server_url, "https://", 8) != 0) {
			rc = cli_usage_error("--cacert applies to an https:// "
					     "--server");
			goto out;
		}
	}
	x.target.cacert = cacert;

	if (cmd->no_conn) {
		rc = cmd->run(&x);
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		rc = cli_error(CLI_EXIT_UNAVAILABLE,
			       "cannot initialise libcurl");
		goto out;
	}
	x.conn = cli_conn_new(&x.target);
	if (!x.conn) {
		rc = CLI_EXIT_UNAVAILABLE;
	} else {
		rc = cmd->run(&x);
		cli_conn_free(x.conn);
	}
	curl_global_cleanup();
out:
	if (fflush(stdout) == EOF && rc == CLI_EXIT_OK)
		rc = cli_error(CLI_EXIT_UNAVAILABLE,
			       "cannot write to standard output");
	free(server_url);
	free(pos);
	return rc;
}
