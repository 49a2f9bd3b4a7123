#!/usr/bin/env python3
"""Writes a synthetic fullsite generation of N small objects (no servers needed), for measuring
the memory and time of `ls`, `diff`, `verify` and `restore` at scale (issue 19).

The generation is what `fullsite backup --no-db` would publish: the marker, one file per object
under objects/<bucket>/, and a version 3 manifest whose records come in a shuffled order (as a
backup writes them) with a valid trailer digest. `--changed K` makes every K-th object's
content differ (a second generation to diff against the first).

    python3 bench/large_generation.py ROOT NAME --objects 200000 [--bucket B] [--changed K]

Needs the `blake3` module (pip install blake3).
"""
import argparse
import json
import os
import random

import blake3


def line(record):
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("name")
    parser.add_argument("--objects", type=int, default=200000)
    parser.add_argument("--bucket", default="stgy-listing")
    parser.add_argument("--changed", type=int, default=0)
    args = parser.parse_args()
    gen = os.path.join(args.root, args.name)
    os.makedirs(os.path.join(gen, "objects", args.bucket), mode=0o700)
    marker = os.path.join(gen, ".stgy-full-site-backup")
    open(marker, "wb").close()
    records = []
    for i in range(args.objects):
        key = f"u/{i % 100:02d}/{i:07d}.png"
        body = f"object {i}".encode()
        if args.changed and i % args.changed == 0:
            body += b" changed"
        path = f"objects/{args.bucket}/{key}"
        full = os.path.join(gen, path)
        os.makedirs(os.path.dirname(full), mode=0o700, exist_ok=True)
        with open(full, "wb") as f:
            f.write(body)
        digest = blake3.blake3(body).hexdigest()
        records.append([
            {"type": "object", "bucket": args.bucket, "key": key, "path": path,
             "size": len(body), "etag": f'"{i:032x}"', "last_modified": "2026-11-24T02:30:00Z",
             "blake3": digest, "content_type": "image/png"},
            {"type": "file", "path": path, "size": len(body), "blake3": digest},
        ])
    random.Random(7).shuffle(records)
    header = {"type": "header", "format": "fullsite-manifest", "version": 3,
              "tool_version": "0.1.0", "generation": args.name,
              "started_at": "2026-11-24T02:30:00+00:00", "host": "bench",
              "parts": {"db": False, "objects": True},
              "source": {"storage": {"endpoint": "http://127.0.0.1:3900",
                                     "buckets": [args.bucket]}}}
    hasher = blake3.blake3()
    files, total = 1, 0
    with open(os.path.join(gen, "manifest.jsonl"), "wb") as out:
        def write(record):
            data = line(record)
            hasher.update(data)
            out.write(data)
        write(header)
        write({"type": "file", "path": ".stgy-full-site-backup", "size": 0,
               "blake3": blake3.blake3(b"").hexdigest()})
        for pair in records:
            for record in pair:
                write(record)
            files += 1
            total += pair[1]["size"]
        write({"type": "bucket", "name": args.bucket, "objects": args.objects, "policy": None})
        out.write(line({"type": "end", "finished_at": "2026-11-24T02:31:00+00:00",
                        "files": files, "bytes": total, "digest": hasher.hexdigest()}))


if __name__ == "__main__":
    main()
