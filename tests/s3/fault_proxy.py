#!/usr/bin/env python3
"""An HTTP fault-injection proxy for S3 tests: sits between pvesafe and the gateway and makes a
share of the requests fail the way real networks and servers fail.

  fault_proxy.py --upstream http://127.0.0.1:7480 --port-file FILE [--rate 0.05]
                 [--kinds 500,503,reset,slow,truncate] [--slow-seconds 2] [--seed N]

Each request draws one fault with probability rate for every kind (so 5% of requests of each
kind with --rate 0.05):
  500       answer 500 InternalError without forwarding
  503       answer 503 SlowDown without forwarding
  reset     forward the request, then reset the TCP connection (RST) instead of answering
  slow      forward, then wait --slow-seconds before answering
  truncate  forward, then send the headers and only half of the body, and close
Control (not forwarded): GET /__fault__/stats -> JSON counters;
POST /__fault__/config?rate=R&kinds=K&fail_after=N changes the settings at run time
(fail_after=N: after N more forwarded requests, answer every request with 503 SlowDown;
fail_after=-1 turns that off; scope=TEXT limits fail_after to requests whose path contains TEXT,
so only those are counted and refused, e.g. scope=/packs/; fail_match=TEXT: answer 503 to every request whose path and
query contain TEXT, e.g. partNumber=2; an empty fail_match turns that off).
The Host header is forwarded unchanged so SigV4 signatures stay valid. With --cert/--key the
proxy speaks HTTPS (TLS termination in front of a plain-HTTP gateway)."""
import argparse
import http.client
import json
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
             '<Message>{msg}</Message><RequestId>fault-proxy</RequestId></Error>')


class State:
    def __init__(self, rate, kinds, slow, seed):
        self.lock = threading.Lock()
        self.rate = rate
        self.kinds = kinds
        self.slow = slow
        self.rng = random.Random(seed)
        self.fail_after = -1  # forwarded requests still allowed before everything fails
        self.fail_match = ""
        self.scope = ""  # fail_after counts and refuses only requests whose path contains this
        self.stats = {"requests": 0, "forwarded": 0, "refused": 0}
        for k in ("500", "503", "reset", "slow", "truncate"):
            self.stats[k] = 0

    def draw(self, path):
        with self.lock:
            self.stats["requests"] += 1
            if self.fail_match and self.fail_match in path:
                self.stats["refused"] += 1
                return "503"
            in_scope = not self.scope or self.scope in path
            if in_scope and self.fail_after == 0:
                self.stats["refused"] += 1
                return "503"
            if in_scope and self.fail_after > 0:
                self.fail_after -= 1
            for kind in self.kinds:
                if self.rng.random() < self.rate:
                    self.stats[kind] += 1
                    return kind
            return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None
    upstream = None

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, BrokenPipeError, OSError):
            pass

    def _read_body(self):
        n = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, headers=(), content_type="application/xml"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _control(self):
        url = urllib.parse.urlparse(self.path)
        st = self.state
        if url.path == "/__fault__/config":
            q = urllib.parse.parse_qs(url.query)
            with st.lock:
                if "rate" in q:
                    st.rate = float(q["rate"][0])
                if "kinds" in q:
                    st.kinds = [k for k in q["kinds"][0].split(",") if k]
                if "fail_after" in q:
                    st.fail_after = int(q["fail_after"][0])
                if "fail_match" in q or "fail_match=" in url.query:
                    st.fail_match = q.get("fail_match", [""])[0]
                if "scope" in q or "scope=" in url.query:
                    st.scope = q.get("scope", [""])[0]
        with st.lock:
            body = json.dumps(dict(st.stats, rate=st.rate, kinds=st.kinds,
                                   fail_after=st.fail_after, fail_match=st.fail_match,
                                   scope=st.scope)).encode()
        self._send(200, body, content_type="application/json")

    def _forward(self, body):
        up = self.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() in ("connection", "keep-alive", "proxy-connection"):
                continue
            conn.putheader(k, v)
        conn.endheaders(body if body else None)
        resp = conn.getresponse()
        data = resp.read()
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length")]
        status, reason, length = resp.status, resp.reason, resp.getheader("Content-Length")
        conn.close()
        with self.state.lock:
            self.state.stats["forwarded"] += 1
        return status, reason, headers, data, length

    def _reset(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _any(self):
        if self.path.startswith("/__fault__"):
            self._read_body()
            return self._control()
        body = self._read_body()
        fault = self.state.draw(self.path)
        if fault == "500":
            return self._send(500, ERROR_XML.format(code="InternalError", msg="injected").encode())
        if fault == "503":
            return self._send(503, ERROR_XML.format(code="SlowDown", msg="Please reduce your request rate.").encode())
        try:
            status, reason, headers, data, length = self._forward(body)
        except OSError as e:
            return self._send(502, ERROR_XML.format(code="BadGateway", msg=str(e)).encode())
        if fault == "reset":
            return self._reset()
        if fault == "slow":
            time.sleep(self.state.slow)
        if fault == "truncate":
            self.send_response(status, reason)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(max(len(data), 2)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        # A HEAD answer has no body: its Content-Length is the object's size, kept from upstream.
        self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--kinds", default="500,503,reset,slow,truncate")
    ap.add_argument("--slow-seconds", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--key", help="private key of --cert")
    a = ap.parse_args()
    Handler.state = State(a.rate, [k for k in a.kinds.split(",") if k], a.slow_seconds, a.seed)
    Handler.upstream = urllib.parse.urlparse(a.upstream)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 64
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if a.cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.replace(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
