#!/usr/bin/env python3
"""The listing floor: one bare ListObjectsV2 pass over every given bucket, and nothing else.

Usage: list_floor.py ENDPOINT REGION BUCKET...  (credentials in AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY). Pages are requested one after another over one keep-alive HTTP
connection, signed with SigV4 (path-style), and each page is read only for its continuation
token and its count of keys: no XML tree, no per-object work, so what is timed is the server
answering and the transfer. Prints the number of objects listed per bucket. Python's standard
library only, so its start-up (about 20 ms) is the whole client overhead.
"""

import datetime
import hashlib
import hmac
import html
import http.client
import os
import re
import sys
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")
TRUNCATED = b"<IsTruncated>true</IsTruncated>"


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def query_string(query: dict[str, str]) -> str:
    """The query as SigV4 canonicalises it (sorted, every reserved byte percent-encoded); sent
    the same way."""
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(query.items()))


def sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(host: str, region: str, path: str, query: dict[str, str]) -> dict[str, str]:
    """The SigV4 headers of a GET of `path?query` with an empty body."""
    key_id, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    canonical_query = query_string(query)
    headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": stamp}
    names = ";".join(sorted(headers))
    canonical = "\n".join(["GET", path, canonical_query,
                           *(f"{k}:{headers[k]}" for k in sorted(headers)), "", names,
                           EMPTY_SHA256])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = sign(sign(sign(sign(f"AWS4{secret}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
                                f"SignedHeaders={names}, Signature={signature}")
    return headers


def main() -> int:
    endpoint, region, buckets = sys.argv[1], sys.argv[2], sys.argv[3:]
    url = urllib.parse.urlsplit(endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port)
    for bucket in buckets:
        path, query, listed = f"/{quote(bucket)}", {"list-type": "2"}, 0
        while True:
            connection.request("GET", f"{path}?{query_string(query)}",
                               headers=signed_headers(url.netloc, region, path, query))
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                print(f"list {bucket}: HTTP {response.status}: {body[:200]!r}", file=sys.stderr)
                return 1
            listed += body.count(b"<Key>")
            token = TOKEN.search(body)
            if TRUNCATED not in body or not token:
                break
            query = {"list-type": "2", "continuation-token": html.unescape(token.group(1).decode())}
        print(f"{bucket}: {listed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
