/* SPDX-License-Identifier: MIT */
/*
 * The configuration engine: an INI file read through inih against a
 * schema, a table of every key (section, name, type, where it goes in the
 * configuration struct, its bounds, its default, whether a reload applies
 * it). ipwalld's own schema is in config.c; this file knows nothing of
 * ipwalld's keys.
 *
 * Sections are plain ([http]) or named and repeated ([rule ssh], [rule
 * web]): a named section's keys go into an instance of its own struct,
 * allocated per name and linked into a list in the configuration struct.
 *
 * Problems are reported on stderr as "FILE:LINE: message", every one of
 * them (not only the first), and counted. Unknown sections and keys are
 * problems, not warnings: a typo must not leave a default in force.
 *
 * Not thread-safe (inih keeps global settings): one thread loads at a
 * time (start-up and SIGHUP, on the main thread).
 */
#ifndef IPWALL_DAEMON_BASE_CONF_H
#define IPWALL_DAEMON_BASE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ipwd_conf_type {
	IPWD_CONF_STR,	    /* char * (strdup'd); max: longest, 0 = any */
	IPWD_CONF_UINT,	    /* an unsigned integer of .size bytes */
	IPWD_CONF_SIZE,	    /* size_t, with a k/M/G suffix (ipwd_parse_size) */
	IPWD_CONF_DURATION, /* seconds (10s, 5m, 365d) into .size bytes */
	IPWD_CONF_BOOL,	    /* bool: yes/no, true/false, on/off, 1/0 */
	IPWD_CONF_ENUM,	    /* int: the index of the value in .names */
	IPWD_CONF_FUNC,	    /* .parse does it */
};

enum ipwd_conf_flags {
	/* A reload keeps the running value and says that the new one takes
	 * effect at the next start. */
	IPWD_CONF_RESTART = 1u << 0,
	/* STR: "none" is stored as "" (a feature turned off). */
	IPWD_CONF_NONE_EMPTY = 1u << 1,
	/* STR: "" is refused. */
	IPWD_CONF_NONEMPTY = 1u << 2,
	/* UINT, DURATION: only powers of two. */
	IPWD_CONF_POW2 = 1u << 3,
	/* A refused value is not quoted in the problem: a password, or a
	 * URL that may hold one ("FILE:LINE: [s] key: why"). */
	IPWD_CONF_SECRET = 1u << 4,
};

struct ipwd_conf_key {
	const char *section; /* "http", or the kind of a named section */
	const char *name;
	enum ipwd_conf_type type;
	size_t offset, size;	  /* of the field, in the config or instance */
	uint64_t min, max;	  /* UINT, SIZE, DURATION: bounds; STR: max */
	const char *const *names; /* ENUM: the values, NULL-terminated */
	/* FUNC: parse @value into @field; NULL or what is wrong. */
	const char *(*parse)(void *field, const char *value);
	/* STR: may @value be stored? NULL or what is wrong. */
	const char *(*check)(const char *value);
	const char *why;  /* what a refused value is told */
	const char *def;  /* the default, as written in a file; NULL: none */
	unsigned flags;	  /* enum ipwd_conf_flags */
	const char *note; /* said with a restart-only change on reload */
};

/*
 * A named section's instances: each is a struct of the section's own
 * whose first member is this header, allocated when [KIND NAME] first
 * appears and linked in file order into the list at .list_offset.
 */
struct ipwd_conf_instance {
	struct ipwd_conf_instance *next;
	char *name;
};

struct ipwd_conf_section {
	const char *name;
	bool named;	    /* [name INSTANCE], repeated */
	size_t size;	    /* named: the instance struct's size */
	size_t list_offset; /* named: where the list head is in the config */
	unsigned max;	    /* named: most instances (0: no limit) */
};

struct ipwd_conf_schema {
	const struct ipwd_conf_section *sections;
	size_t nsections;
	const struct ipwd_conf_key *keys;
	size_t nkeys;
};

/* The key table's entry for a field of struct @type. */
#define IPWD_CONF_FIELD(type, field) \
	offsetof(type, field), sizeof(((type *)0)->field)

/* Zero @cfg, then give every key of a plain section its default. */
void ipwd_conf_defaults(const struct ipwd_conf_schema *s, void *cfg);

/*
 * Read @path into @cfg (which holds the defaults): every problem on
 * stderr as "PATH:LINE: ...". Returns the number of problems (a file
 * that cannot be opened is one).
 */
int ipwd_conf_read(const struct ipwd_conf_schema *s, void *cfg,
		   const char *path);

/* Set one key from text (a command line flag): NULL or what is wrong. */
const char *ipwd_conf_set(const struct ipwd_conf_schema *s, void *cfg,
			  const char *section, const char *name,
			  const char *value);

/*
 * A reload: for each key with IPWD_CONF_RESTART whose value in @nw
 * differs from the running @old, call @changed, then give @nw the
 * running value (so @nw can replace @old whole). Strings are swapped,
 * not copied. Plain sections only.
 */
void ipwd_conf_keep_restart(
	const struct ipwd_conf_schema *s, void *old, void *nw,
	void (*changed)(const struct ipwd_conf_key *k, void *ctx), void *ctx);

/* Free every string and instance of @cfg (those fields become NULL). */
void ipwd_conf_free(const struct ipwd_conf_schema *s, void *cfg);

/* The instance of the named section list @head called @name, or NULL. */
struct ipwd_conf_instance *
ipwd_conf_instance_find(struct ipwd_conf_instance *head, const char *name);

/* Value parsers shared with the rest of the daemon. Each returns 0 or
 * -1. */
int ipwd_parse_size(const char *s, size_t *out); /* 64M, 8k, 1048576 */
int ipwd_parse_bool(const char *s, bool *out);	 /* yes/no/true/... */
int ipwd_parse_uint(const char *s, uint64_t max, uint64_t *out);

#endif /* IPWALL_DAEMON_BASE_CONF_H */
