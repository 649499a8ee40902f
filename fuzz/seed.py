#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from the test vectors and fixtures; ci/fuzz hands the
seeds to libFuzzer beside the (uncommitted) corpus on each run. Re-run after the vectors change."""
import glob, json, os, shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")


def put(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def vec(*path):
    with open(os.path.join(ROOT, "tests", "vectors", *path)) as f:
        return json.load(f)


shutil.rmtree(OUT, ignore_errors=True)
for i, e in enumerate(vec("original", "envelopes.json")["envelopes"]):
    put("envelope", f"original-{i}", json.dumps(e["envelope"], ensure_ascii=False))
for i, c in enumerate(vec("python", "canonical.json")["cases"]):
    put("canonical_json", f"case-{i}", c["value_wire"] if isinstance(c["value_wire"], str) else json.dumps(c["value_wire"]))
    put("envelope", f"canonical-{i}", c["canonical_text"])
put("canonical_json", "floats", json.dumps(list(vec("original", "float_repr.json").keys())))
noise = vec("original", "noise_xk.json")
for k in ("msg1", "msg2", "msg3"):
    put("noise_frames", k, bytes.fromhex(noise[f"{k}_hex"]))
    put("noise_frames", k + "-frame", bytes.fromhex(noise[f"{k}_frame_hex"]))
for i, t in enumerate(noise["transport"] if isinstance(noise["transport"], list) else []):
    for key, value in t.items():
        if key.endswith("_hex"):
            put("noise_frames", f"transport-{i}-{key}", bytes.fromhex(value))
key = "l8pXoDF70VvcxaOj4+fTm3usTf44guVCEW1NdYc61uU="
put("yaml_peers", "peers", f"- id: laptop\n  pubkey: {key}\n  address: 10.0.0.2:7423\n  allow: [link.ping, link.ask]\n  rate_limit: {{per_minute: 30}}\n  tools: [read_file, 'mcp:git']\n")
put("yaml_peers", "pending", f"- pubkey: {key}\n  first_seen: 1700000000.5\n  last_seen: 1700000100.25\n  address: 127.0.0.1:7423\n")
put("yaml_peers", "empty", "[]\n")
put("yaml_config", "full", "model: openai/gpt-4o-mini\nfallback_models: [groq/llama]\nworkspace: ~/ws\nalp:\n  tcp_port: 7423\nproviders:\n  custom:\n    - name: fake\n      base_url: http://127.0.0.1:1/v1\n      api_key_env: FAKE_KEY\ntools:\n  deny: [terminal]\n  web_fetch: {allow_local: true}\npricing:\n  openai/gpt-4o-mini: {input_per_mtok: 0.15, output_per_mtok: 0.6}\n")
put("yaml_config", "styles", "---\n# every style the reader knows\nplain: one\n  two\nquoted: 'it''s\n\n  folded'\ndouble: \"tab\\there \\u00e9\\\n  joined\"\nliteral: |+\n  keep\n\nfolded: >-\n  a\n  b\n\n   c\nflow: {a: [1, 0x1F, 017, 1.5e+3, .inf, ~, yes, off], b: {}}\nlist:\n- - nested\n  - x: 1\n    y:\n    - deep\n...\n")
put("jobs", "jobs", '[{"id": "0a1b2c3d", "kind": "cron", "prompt": "morning", "notify": true, "expression": "0 9 * * *"}, {"id": "1a1b2c3d", "kind": "once", "prompt": "x", "notify": false, "run_at": "2026-01-01T09:00:00+00:00"}]\x00{"0a1b2c3d": {"last_run_at": "2026-01-01T09:00:00+00:00", "last_run_status": "ok"}}')
for path in glob.glob(os.path.join(ROOT, "tests", "vectors", "providers", "*.sse")):
    with open(path, "rb") as f:
        body = f.read()
    for step in (1, 7, 255):
        put("sse", f"{os.path.basename(path)}-{step}", bytes([step]) + body)
put("imap", "session", "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n* 12 EXISTS\r\n* OK [UIDNEXT 44] next\r\n* OK [UIDVALIDITY 3857529045] ok\r\n* SEARCH 3 7 41\r\n* 1 FETCH (UID 41 BODY[] {12}\r\nHello world!)\r\na3 OK done\r\n+ idling\r\n* LIST () \"/\" \"INBOX\"\r\n")
put("telegram", "updates", '{"ok": true, "result": [{"update_id": 100, "message": {"message_id": 100, "date": 1700000000, "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "first_name": "Jane"}, "text": "hello"}}, {"update_id": 101, "edited_message": {}}]}')
