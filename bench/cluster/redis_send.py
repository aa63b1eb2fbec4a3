#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""redis_send.py PORT CLUSTER_C OPS BATCH [ROUNDS]: what one Redis spends on the
cluster sender's work, alone (no ipwalld): the send script of
src/daemon/cluster/cluster.c (read from that file, so it is the one the
daemon runs), called as the sender calls it (EVALSHA, one call of BATCH
ops at a time, waiting for each reply), over OPS random bans shaped like
the daemon's (3 in 4 IPv4; mirror fields of 7 or 19 bytes, ids as 32
hex digits in time order, records of 76 or 88 bytes). Then variants of
the same work, to show where Redis's time goes:

  script     the daemon's script: per op an HGET, a later-than test in
             Lua, an HSET; one XADD per call
  batched_calls the same rule with two calls to Redis per script run
             instead of two per op: one HMGET of every field, the test in
             Lua (also against an earlier op of the call on the same
             field), one HSET of the winners; the state it leaves is
             checked to be the script's
  no_compare the same script without the HGET and the test (every op
             HSETs: not the arbiter's rule, only its cost)
  xadd_only  the script's XADD alone (no mirror)
  native     no Lua: MULTI, one HSET of all BATCH fields, the XADD, EXEC
             (no later-than test either)

and, after the first, one reader's pass over the whole stream (XREAD
COUNT 256, as each node's receiver reads it).

Each on an emptied database (FLUSHALL), measured by Redis's own CPU time
(INFO cpu, main thread) and by wall time; ROUNDS (default 3) rounds of
all of them, interleaved, and the median of each. One JSON line per
variant on stdout, a table on stderr.
"""
import hashlib, json, os, random, re, socket, sys, time

port, src, ops, batch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3

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
    ms = t_ms + i // 1000
    if i % 100 == 99 and i % batch:
        # 1 in 100 on a target an earlier op of the same call has, half
        # of them older than it (crossed ops of two nodes)
        field = recs[rnd.randrange(i - i % batch, i)][0]
        ms -= rnd.choice((0, 2000))
    idhex = ("%012x7%03x%016x" % (ms, i % 4096, rnd.getrandbits(64))).encode()
    recs.append((field, idhex, rec))

lua = lua_of(src)
no_compare = re.sub(r"local cur = .*?\n  if .*?then\n(.*?)\n  end\n",
                    r"\1\n", lua, flags=re.S)
assert no_compare != lua, "the send script changed shape: update no_compare"
# The same rule with two calls per script run instead of two per op: one
# HMGET of every field, the later-than test in Lua (against an earlier op
# of the same call on the same field too), one HSET of the winners.
batched_calls = lua.split("local won = 0")[0] + """local n = (#ARGV - 4) / 3
local fields = {}
for i = 1, n do fields[i] = ARGV[2 + 3 * i] end
local cur = redis.call('HMGET', KEYS[2], unpack(fields))
local pend, set, won = {}, {}, 0
for i = 1, n do
  local j = 2 + 3 * i
  local c = pend[ARGV[j]] or cur[i]
  if (not c) or later(ARGV[j + 1], string.sub(c, 1, 32)) then
    local v = ARGV[j + 1] .. ARGV[j + 2]
    pend[ARGV[j]] = v
    set[#set + 1] = ARGV[j]
    set[#set + 1] = v
    won = won + 1
  end
end
if won > 0 then redis.call('HSET', KEYS[2], unpack(set)) end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
  'n', ARGV[1], 'k', ARGV[3], 'o', ARGV[4])
return {id, won}
"""
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

def mirror_digest(r):
    h, cursor, n = hashlib.sha256(), b"0", 0
    items = []
    while True:
        cursor, kv = r("HSCAN", "{b}:state", cursor, "COUNT", "10000")
        items += [(kv[i], kv[i + 1]) for i in range(0, len(kv), 2)]
        if cursor == b"0":
            break
    for f, v in sorted(items):
        h.update(f + b"\0" + v + b"\0")
    return h.hexdigest(), len(items)

r_ = R(port)
digest = {}
VARIANTS = (("script", lua), ("read_stream", None),
            ("batched_calls", batched_calls), ("no_compare", no_compare),
            ("xadd_only", xadd_only), ("native", None))

def read_all(r):
    # the whole stream, as a receiver reads it (XREAD COUNT 256 from its
    # position; every node reads every entry, its own ones too)
    pos = b"0-0"
    while True:
        rep = r("XREAD", "COUNT", "256", "STREAMS", "{b}:ops", pos)
        if rep is None:
            return
        pos = rep[0][1][-1][0]

def measure(kind, script):
    if kind == "read_stream":  # on what "script" left
        c0, w0 = cpu(r_), time.monotonic()
        read_all(r_)
        return time.monotonic() - w0, cpu(r_) - c0
    r_("FLUSHALL")
    sha = r_("SCRIPT", "LOAD", script) if script else b""
    reqs = list(calls(kind, sha))  # encoded before the clock starts
    c0, w0 = cpu(r_), time.monotonic()
    for data, n in reqs:
        r_.raw(data, n)
    w1, c1 = time.monotonic(), cpu(r_)
    if kind in ("script", "batched_calls"):
        digest[kind] = mirror_digest(r_)
    return w1 - w0, c1 - c0

# Rounds interleave the variants, so that the machine's swings fall on
# all of them alike; the median of each is reported, every round in the
# JSON line.
res = {k: [] for k, _ in VARIANTS}
for rnd_ in range(rounds):
    for kind, script in VARIANTS:
        res[kind].append(measure(kind, script))
        if kind in ("script", "batched_calls"):
            if kind == "batched_calls" and digest["script"] != digest["batched_calls"]:
                print("redis_send: batched_calls left another mirror than the "
                      "script (%d and %d fields)" %
                      (digest["script"][1], digest["batched_calls"][1]),
                      file=sys.stderr)
                sys.exit(1)
r_("FLUSHALL")
base = None
for kind, _ in VARIANTS:
    cpus = sorted(c for _, c in res[kind])
    walls = sorted(w for w, _ in res[kind])
    c, w = cpus[len(cpus) // 2], walls[len(walls) // 2]
    if kind == "script":
        base = c
    line = {"bench": "cluster",
            "case": ("redis_" if kind == "read_stream" else "redis_send_") + kind,
            "ops": ops, "batch": batch, "rounds": rounds,
            "cpu_us_per_op": round(c * 1e6 / ops, 2),
            "cpu_us_per_op_rounds": [round(x * 1e6 / ops, 2) for _, x in res[kind]],
            "ops_per_cpu_s": round(ops / c),
            "ops_per_sec_wall": round(ops / w),
            "over_script": round(c / base, 3)}
    print(json.dumps(line), flush=True)
    print("redis alone, %-13s %d ops, calls of %d: %.2f us of Redis CPU per op "
          "(%.0f ops per CPU second; rounds %s), %.2f of the script's; wall "
          "%.0f ops/s" %
          (line["case"][6:], ops, batch, line["cpu_us_per_op"], line["ops_per_cpu_s"],
           "/".join("%.2f" % x for x in line["cpu_us_per_op_rounds"]),
           line["over_script"], line["ops_per_sec_wall"]), file=sys.stderr)
