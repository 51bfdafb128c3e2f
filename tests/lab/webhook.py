#!/usr/bin/python3
"""Alertmanager webhook receiver for the lab: appends one JSON line per notification to a file,
with the receive time (receive_time, seconds since the epoch) and the receiver path.
Usage: webhook.py PORT OUTFILE   (listens on 127.0.0.1:PORT, prints "webhook listening" when ready)
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, out = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        t = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            msg = json.loads(body)
        except ValueError:
            msg = {"raw": body.decode(errors="replace")}
        msg["receive_time"] = t
        msg["path"] = self.path
        with open(out, "a") as f:
            f.write(json.dumps(msg) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


srv = HTTPServer(("127.0.0.1", port), Handler)
print("webhook listening", flush=True)
srv.serve_forever()
