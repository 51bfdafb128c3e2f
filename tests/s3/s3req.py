#!/usr/bin/env python3
"""One signed S3 request (AWS Signature Version 4), for tests that act as a given user.

    s3req.py METHOD /bucket/key[?query] [--body FILE|-] [--header 'Name: value']... [--md5]

Endpoint and keys come from S3REQ_ENDPOINT, S3REQ_ACCESS_KEY, S3REQ_SECRET_KEY (region
us-east-1, path-style addressing). Prints the HTTP status on the first line of stdout and the
response body after it; exits 0 whatever the status (the caller judges it), 2 on bad usage.
Written from the SigV4 specification with the standard library only, so a test can send exactly
the request it means (a version id, a bypass header, a retention body) and see exactly what the
gateway answers, where the AWS CLI would retry, reformat or refuse.
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import os
import sys
import urllib.parse


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    method, target = argv[1], argv[2]
    body = b""
    headers = {}
    md5 = False
    i = 3
    while i < len(argv):
        if argv[i] == "--body":
            body = sys.stdin.buffer.read() if argv[i + 1] == "-" else open(argv[i + 1], "rb").read()
            i += 2
        elif argv[i] == "--header":
            name, _, value = argv[i + 1].partition(":")
            headers[name.strip().lower()] = value.strip()
            i += 2
        elif argv[i] == "--md5":
            md5 = True
            i += 1
        else:
            print(f"s3req.py: unknown argument {argv[i]}", file=sys.stderr)
            return 2
    endpoint = urllib.parse.urlparse(os.environ["S3REQ_ENDPOINT"])
    access, secret = os.environ["S3REQ_ACCESS_KEY"], os.environ["S3REQ_SECRET_KEY"]
    region = os.environ.get("S3REQ_REGION", "us-east-1")

    path, _, query = target.partition("?")
    params = []
    for part in query.split("&") if query else []:
        k, _, v = part.partition("=")
        params.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
    params.sort()
    canonical_query = "&".join(
        urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~") for k, v in params)
    canonical_path = urllib.parse.quote(urllib.parse.unquote(path), safe="/-_.~")

    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload = hashlib.sha256(body).hexdigest()
    headers["host"] = endpoint.netloc
    headers["x-amz-date"] = amz_date
    headers["x-amz-content-sha256"] = payload
    if md5:
        headers["content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    signed = sorted(headers)
    canonical_headers = "".join(f"{h}:{headers[h]}\n" for h in signed)
    request = "\n".join([method, canonical_path, canonical_query, canonical_headers, ";".join(signed), payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = sign(sign(sign(sign(("AWS4" + secret).encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={signature}")

    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port or 80, timeout=60)
    conn.request(method, canonical_path + ("?" + canonical_query if canonical_query else ""), body=body,
                 headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    try:
        sys.stdout.write(f"{resp.status}\n")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        if data and not data.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader wanted only the status line (| head -1): not an error of the request.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
