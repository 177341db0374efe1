#!/usr/bin/env bash
# Builds the fuzzers' seed corpora in fuzz/corpus/TARGET/ from ../shared (or $QMP_SHARED_DIR):
# - wire: real conversations of libvirt-replies/ replayed as the server's side (greeting,
#   the capabilities reply, events, the replies given to the target's calls by id), compact
#   with CRLF, in QEMU's pretty mode (CRLF, many lines a message), in libvirt's layout, and
#   with small chunks, pauses, timeouts and a small message cap;
# - typed_decode: every reply and every request's arguments of the captures, by command name
#   and as the typed return types the target decodes;
# - schema: QEMU's parser test cases (includes renamed to the target's in-memory files), a
#   few real schema modules, and the start of our own doc-free extract.
# The seeds are read from ../shared each time and never committed (fuzz/.gitignore).
set -euo pipefail
cd "$(dirname "$0")"
# ../shared beside the repository, as the tests find it.
shared=${QMP_SHARED_DIR:-../../shared}
[ -d "$shared/corpus" ] || { echo "no shared data at $shared (set QMP_SHARED_DIR)" >&2; exit 1; }
exec python3 - "$shared" <<'PY'
import json, os, re, sys

shared = sys.argv[1]
out = "corpus"
for target in ("wire", "typed_decode", "schema"):
    os.makedirs(os.path.join(out, target), exist_ok=True)
counts = {"wire": 0, "typed_decode": 0, "schema": 0}

def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)
    counts[target] += 1

def messages(path):
    text = open(path).read()
    decoder = json.JSONDecoder()
    at, found = 0, []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        value, at = decoder.raw_decode(text, at)
        found.append(value)

def conversation(path):
    """(command, arguments, return-or-error message) of each request of a capture."""
    pending, pairs = {}, []
    for m in messages(path):
        if "execute" in m:
            pending[m.get("id")] = m
        elif m.get("id") in pending:
            request = pending.pop(m["id"])
            pairs.append((request["execute"], request.get("arguments"), m))
    return pairs

# The wire target's calls, in id order (see fuzz/targets/wire.rs).
CALLS = ["query-status", "query-version", "raw", "query-yank", "raw-oob",
         "query-block", "stop", "query-qmp-schema"]

def header(flags=0x01, calls=0xFF, chunks=(0x7F,) * 6):
    return bytes([flags, calls]) + bytes(chunks)

def greeting(version):
    return {"QMP": {"version": version, "capabilities": ["oob"]}}

def dump(message, style):
    if style == "compact":
        return json.dumps(message) + "\r\n"
    if style == "pretty":   # QEMU's pretty mode: 4 spaces, CRLF
        return json.dumps(message, indent=4).replace("\n", "\r\n") + "\r\n"
    return json.dumps(message, indent=2) + "\n\n"   # libvirt's captures

def server_stream(version, replies, events, style, order=None):
    lines = [greeting(version), {"return": {}, "id": 1}]
    ids = list(range(2, 2 + len(replies)))
    if order == "reversed":
        ids.reverse()
    for n, i in enumerate(ids):
        lines.append(dict(replies[i - 2], id=i))
        if n < len(events):
            lines.append(events[n])
    return "".join(dump(m, style) for m in lines)

EVENTS = [
    {"event": "STOP", "timestamp": {"seconds": 1700000000, "microseconds": 1}},
    {"event": "BLOCK_JOB_COMPLETED", "timestamp": {"seconds": 1700000001, "microseconds": 2},
     "data": {"type": "mirror", "device": "job0", "len": 10, "offset": 10, "speed": 0}},
    {"event": "RESUME", "timestamp": {"seconds": 1700000002, "microseconds": 3}},
    {"event": "SOME_FUTURE_EVENT", "data": {"x": [1, 2]},
     "timestamp": {"seconds": 1700000003, "microseconds": 4}},
]

captures = os.path.join(shared, "corpus", "libvirt-replies")
for capture in sorted(os.listdir(captures)):
    if not capture.endswith(".replies"):
        continue
    stem = capture[: -len(".replies")].replace("+", "-")
    pairs = conversation(os.path.join(captures, capture))
    returns = {}
    for command, arguments, reply in pairs:
        returns.setdefault(command, reply)
        # typed_decode, by name: the reply's return, and the request's arguments.
        if "return" in reply:
            body = json.dumps(reply["return"], separators=(",", ":"))
            if len(body) < 60000:
                write("typed_decode", f"{stem}-{counts['typed_decode']}-ret",
                      bytes([20]) + f"{command}\n{body}".encode())
        if arguments is not None:
            write("typed_decode", f"{stem}-{counts['typed_decode']}-args",
                  bytes([21]) + f"{command}\n{json.dumps(arguments)}".encode())
    typed = {"query-version": 2, "query-machines": 11, "device-list-properties": 12,
             "query-cpu-definitions": 13, "query-cpu-model-expansion": 18,
             "qom-list-types": 23}
    for command, selector in typed.items():
        if command in returns and "return" in returns[command]:
            write("typed_decode", f"{stem}-typed-{command}",
                  bytes([selector]) + json.dumps(returns[command]["return"]).encode())
    schema_reply = returns.get("query-qmp-schema", {}).get("return", [])
    write("typed_decode", f"{stem}-typed-schema-head",
          bytes([3]) + json.dumps(schema_reply[:150]).encode())

    version = returns.get("query-version", {}).get("return",
              {"qemu": {"major": 10, "minor": 0, "micro": 0}, "package": ""})
    def ret(command, fallback):
        reply = returns.get(command)
        return {"return": reply["return"]} if reply and "return" in reply else {"return": fallback}
    replies = [
        {"return": {"running": False, "status": "prelaunch"}},
        ret("query-version", version),
        ret("query-target", {"arch": "x86_64"}),
        {"return": []},
        ret("query-kvm", {"enabled": False, "present": False}),
        {"return": []},
        {"return": {}},
        {"return": schema_reply[:40]},
    ]
    for style in ("compact", "pretty", "libvirt"):
        write("wire", f"{stem}-{style}", header() + server_stream(version, replies, EVENTS, style).encode())
    base = server_stream(version, replies, EVENTS, "compact", order="reversed").encode()
    write("wire", f"{stem}-reversed-bytewise", header(chunks=(0,) * 6) + base)
    write("wire", f"{stem}-reversed-pauses", header(flags=0x03, chunks=(0x85, 3, 0x90, 7, 1, 0x7F)) + base)
    write("wire", f"{stem}-no-oob-small-cap", header(flags=0x08 | 0x20, chunks=(0x20,) * 6) + base)
    write("wire", f"{stem}-dropped-first", header(flags=0x11) + base)
    # The big replies of the capture, each the answer to the raw call (id 2 with only that call).
    for command in ("qom-list-types", "query-machines", "query-cpu-definitions",
                    "device-list-properties", "query-command-line-options"):
        if command in returns:
            reply = dict(returns[command], id=2)
            text = dump(greeting(version), "pretty") + dump({"return": {}, "id": 1}, "pretty") + dump(reply, "pretty")
            if len(text) < 60000:
                write("wire", f"{stem}-{command}", header(calls=0x04) + text.encode())

# Misbehaviour a real QEMU never shows, around a well-formed conversation.
g = json.dumps(greeting({"qemu": {"major": 10, "minor": 0, "micro": 0}, "package": ""}))
faults = "\r\n".join([
    g, '{"return": {}, "id": 1}', '{this is not json', '[1, 2]', '{"return": {}, "id": "libvirt-9"}',
    '{"return": {}, "id": 999}', '{"error": {"class": "GenericError", "desc": "no id"}}',
    '{"return": {"running": true, "status": "running"}, "id": 2}', '{',
    '{"error": {"class": "CommandNotFound", "desc": "x"}, "id": 3}', "{\"a\": \"\xff\"}",
    '{"return": 5, "id": 4}', '{"return": 6, "id": 4}', '{"event": "STOP"}', '']).encode("utf-8", "surrogateescape")
write("wire", "faults", header(calls=0x07) + faults)

# schema: QEMU's parser cases, their includes renamed to the target's files.
tests = os.path.join(shared, "qapi-tests")
names = ["a.json", "b.json", "sub/c.json"]
for case in sorted(os.listdir(tests)):
    if not case.endswith(".json"):
        continue
    text = open(os.path.join(tests, case), "rb").read()
    files = []
    def rename(match):
        target = match.group(2).decode()
        path = os.path.join(tests, target)
        if len(files) >= len(names) or not os.path.isfile(path):
            return match.group(0)
        files.append(open(path, "rb").read())
        return match.group(1) + names[len(files) - 1].encode() + match.group(3)
    text = re.sub(rb"('include'\s*:\s*')([^']+)(')", rename, text)
    body = b"\0".join([text] + files)
    for flags in (0, 1):
        write("schema", f"{case}-{flags}", bytes([flags]) + body)
for release in ("qemu-10.0", "qemu-7.2"):
    folder = os.path.join(shared, "qapi", release, "qapi")
    for module in ("run-state.json", "job.json", "yank.json", "control.json", "pragma.json", "introspect.json"):
        path = os.path.join(folder, module)
        if os.path.isfile(path):
            write("schema", f"{release}-{module}", b"\x01" + open(path, "rb").read())
extract = open("../schema/qemu-10.0.json", "rb").read()
cut = extract[:50000]
write("schema", "extract-head", b"\x02" + cut[: cut.rfind(b"\n") + 1])

print(", ".join(f"{target}: {n} seeds" for target, n in counts.items()))
PY
