#!/usr/bin/env python3
"""Drives the original Python alpi's room code against this build, for tests/workgroup_interop.rs.

    workgroup_py.py HOME join HUB_ID WG        member: join our hub (prints name, briefing, key version)
    workgroup_py.py HOME post WG TEXT          member: post through our hub (prints seq)
    workgroup_py.py HOME pull WG               member: pull from seq 0 (prints [{seq, text, from}])
    workgroup_py.py HOME hub-read WG           hub: open a room our binary wrote, decrypt its transcript
    workgroup_py.py HOME hub-create NAME KEY…  hub: create a room as the original does (prints its id)

HOME is a profile directory; $HOME must be the sandbox so the original finds sibling profiles.
"""

import asyncio
import json
import sys
from pathlib import Path

from alpi.alp import workgroup as wg
from alpi.alp import workgroup_client as wc
from alpi.alp.keys import load_or_generate


def main() -> None:
    home, cmd, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if cmd == "join":
        sub = asyncio.run(wc.join(home, args[0], args[1]))
        print(json.dumps({"name": sub.name, "briefing": sub.briefing, "key_version": sub.latest_version()}))
    elif cmd == "post":
        print(json.dumps(asyncio.run(wc.post(home, args[0], args[1].encode()))))
    elif cmd == "pull":
        posts, _ = asyncio.run(wc.pull(home, args[0], since=0))
        print(json.dumps([{"seq": p["seq"], "text": p["text"], "from": p["from"]} for p in posts]))
    elif cmd == "hub-read":
        room = wg.load(home, args[0])
        keys = wg.hub_group_keys(home, room, load_or_generate(home))
        out = []
        for p in wg._read_transcript(wg._wg_dir(home, args[0])):
            key = keys[int(p["key_version"])]
            out.append(wg.decrypt_post(key, p["nonce"], p["ciphertext"]).decode())
        members = [{"pubkey": m.pubkey, "joined": m.joined, "key_version": m.key_version} for m in room.members]
        print(json.dumps({"name": room.meta.name, "briefing": room.meta.briefing, "created_at": room.meta.created_at,
                          "key_version": room.meta.current_key_version, "members": members, "posts": out}))
    elif cmd == "hub-create":
        room = wg.create(home, name=args[0], hub_kp=load_or_generate(home), member_pubkeys=args[1:], briefing="made by python")
        print(room.meta.id)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
