#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""redis_send.py PORT CLUSTER_C OPS BATCH: what one Redis spends on the
cluster sender's work, alone (no ipwalld): the send script of
src/daemon/cluster/cluster.c (read from that file, so it is the one the
daemon runs), called as the sender calls it (EVALSHA, one call of BATCH
ops at a time, waiting for each reply), over OPS random bans shaped like
the daemon's (3 in 4 IPv4; mirror fields of 7 or 19 bytes, ids as 32
hex digits in time order, records of 76 or 88 bytes). Then variants of
the same work, to show where Redis's time goes:

  script     the daemon's script: per op an HGET, a later-than test in
             Lua, an HSET; one XADD per call
  no_compare the same script without the HGET and the test (every op
             HSETs: not the arbiter's rule, only its cost)
  xadd_only  the script's XADD alone (no mirror)
  native     no Lua: MULTI, one HSET of all BATCH fields, the XADD, EXEC
             (no later-than test either)

and, after the first, one reader's pass over the whole stream (XREAD
COUNT 256, as each node's receiver reads it).

Each on an emptied database (FLUSHALL), measured by Redis's own CPU time
(INFO cpu, main thread) and by wall time. One JSON line per variant on
stdout, a table on stderr.
"""
import json, os, random, re, socket, sys, time

port, src, ops, batch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def lua_of(path):
    text = open(path).read()
    m = re.search(r'static const char send_lua\[\] =\n(.*?);\n', text, re.S)
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    return "".join(parts).encode().decode("unicode_escape")

class R:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
    def enc(self, *a):
        out = [b"*%d\r\n" % len(a)]
        for x in a:
            x = x if isinstance(x, bytes) else str(x).encode()
            out.append(b"$%d\r\n" % len(x))
            out.append(x)
            out.append(b"\r\n")
        return b"".join(out)
    def reply(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            d = self.f.read(n + 2)
            return d[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)
    def raw(self, data, replies=1):
        self.s.sendall(data)
        return [self.reply() for _ in range(replies)][-1]
    def __call__(self, *a):
        return self.raw(self.enc(*a))

def cpu(r):
    info = r("INFO", "cpu").decode()
    v = dict(l.split(":", 1) for l in info.split("\r\n") if ":" in l)
    return float(v["used_cpu_user_main_thread"]) + float(v["used_cpu_sys_main_thread"])

rnd = random.Random(3)
t_ms = int(time.time() * 1000)
recs = []
for i in range(ops):
    if rnd.random() < 0.25:
        field = b"\x00\x06\x80" + rnd.getrandbits(128).to_bytes(16, "big")
        rec = os.urandom(88)
    else:
        field = b"\x00\x04\x20" + rnd.getrandbits(32).to_bytes(4, "big")
        rec = os.urandom(76)
    idhex = ("%012x7%03x%016x" % (t_ms + i // 1000, i % 4096, rnd.getrandbits(64))).encode()
    recs.append((field, idhex, rec))

lua = lua_of(src)
no_compare = re.sub(r"local cur = .*?\n  if .*?then\n(.*?)\n  end\n",
                    r"\1\n", lua, flags=re.S)
assert no_compare != lua, "the send script changed shape: update no_compare"
xadd_only = "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',\n" \
            "  'n', ARGV[1], 'k', ARGV[3], 'o', ARGV[4])\nreturn {id, 0}\n"

def group(chunk):
    # the stream's "o": a varint count, then varint length + record each
    def varint(v):
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7f) | 0x80)
            v >>= 7
        out.append(v)
        return bytes(out)
    return varint(len(chunk)) + b"".join(varint(len(r)) + r for _, _, r in chunk)

def calls(kind, sha):
    for i in range(0, ops, batch):
        chunk = recs[i:i + batch]
        if kind == "native":
            args = [b"HSET", b"{b}:state"]
            for f, h, r in chunk:
                args += [f, h + r]
            yield (r_.enc(b"MULTI") + r_.enc(*args) +
                   r_.enc(b"XADD", b"{b}:ops", b"MAXLEN", b"~", b"1000000", b"*",
                          b"n", b"node-a", b"k", b"ops", b"o", group(chunk)) +
                   r_.enc(b"EXEC")), 4
        else:
            args = [b"EVALSHA", sha, b"2", b"{b}:ops", b"{b}:state", b"node-a",
                    b"1000000", b"ops", group(chunk)]
            for f, h, r in chunk:
                args += [f, h, r]
            yield r_.enc(*args), 1

r_ = R(port)
out = []
for kind, script in (("script", lua), ("no_compare", no_compare),
                     ("xadd_only", xadd_only), ("native", None)):
    r_("FLUSHALL")
    sha = r_("SCRIPT", "LOAD", script) if script else b""
    reqs = list(calls(kind, sha))  # encoded before the clock starts
    c0, w0 = cpu(r_), time.monotonic()
    for data, n in reqs:
        r_.raw(data, n)
    w1, c1 = time.monotonic(), cpu(r_)
    mem = int(dict(l.split(":", 1) for l in r_("INFO", "memory").decode().split("\r\n")
                   if ":" in l)["used_memory"])
    res = {"bench": "cluster", "case": "redis_send_" + kind, "ops": ops,
           "batch": batch, "redis_cpu_s": round(c1 - c0, 3),
           "cpu_us_per_op": round((c1 - c0) * 1e6 / ops, 2),
           "ops_per_cpu_s": round(ops / (c1 - c0)),
           "wall_s": round(w1 - w0, 3), "ops_per_sec_wall": round(ops / (w1 - w0)),
           "used_memory": mem}
    print(json.dumps(res), flush=True)
    out.append(res)
    if kind == "script":
        # what each node's receiver then costs: the whole stream read
        # as the receiver reads it (XREAD COUNT 256 from its position;
        # every node reads every entry, its own ones too)
        c0, w0 = cpu(r_), time.monotonic()
        pos = b"0-0"
        while True:
            rep = r_("XREAD", "COUNT", "256", "STREAMS", "{b}:ops", pos)
            if rep is None:
                break
            pos = rep[0][1][-1][0]
        w1, c1 = time.monotonic(), cpu(r_)
        res = {"bench": "cluster", "case": "redis_read_stream", "ops": ops,
               "batch": batch, "redis_cpu_s": round(c1 - c0, 3),
               "cpu_us_per_op": round((c1 - c0) * 1e6 / ops, 2),
               "ops_per_cpu_s": round(ops / (c1 - c0)),
               "wall_s": round(w1 - w0, 3),
               "ops_per_sec_wall": round(ops / (w1 - w0)), "used_memory": mem}
        print(json.dumps(res), flush=True)
        out.append(res)
r_("FLUSHALL")
for res in out:
    print("redis alone, %-11s %d ops in calls of %d: %.2f us of Redis CPU per op "
          "(%.0f ops per CPU second); wall %.2f s (%.0f ops/s)" %
          (res["case"][6:], ops, batch, res["cpu_us_per_op"], res["ops_per_cpu_s"],
           res["wall_s"], res["ops_per_sec_wall"]), file=sys.stderr)
