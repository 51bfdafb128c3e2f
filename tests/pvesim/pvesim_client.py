"""Minimal raw client for the pvesim tests: keeps HTTP status codes visible (unlike proxmoxer)."""
import json
import os
import time

import requests
import urllib3

urllib3.disable_warnings()

URL = os.environ["PVESIM_URL"]
API = URL + "/api2/json"
DATA = os.path.join(os.environ["PVESIM_DIR"], "data")
CERT = os.environ["PVESIM_CERT"]  # the certificate pvesim generated (it is its own CA)


def tokens():
    out = {}
    with open(os.environ["PVESIM_TOKENS"]) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            spec, role = line.split()
            tid, secret = spec.split("=", 1)
            out[tid] = (secret, role)
    return out


class Client:
    def __init__(self, token_id=None, user=None, password=None):
        self.s = requests.Session()
        self.s.verify = CERT
        self.csrf = None
        if token_id:
            secret = tokens()[token_id][0]
            self.s.headers["Authorization"] = "PVEAPIToken=%s=%s" % (token_id, secret)
        elif user:
            r = self.s.post(API + "/access/ticket", data={"username": user, "password": password}, verify=CERT)
            assert r.status_code == 200, r.text
            d = r.json()["data"]
            self.s.cookies.set("PVEAuthCookie", d["ticket"])
            self.csrf = d["CSRFPreventionToken"]

    def req(self, method, path, **kw):
        headers = kw.pop("headers", {})
        if self.csrf and method != "GET":
            headers["CSRFPreventionToken"] = self.csrf
        kw.setdefault("verify", CERT)
        return self.s.request(method, API + path, headers=headers, timeout=60, **kw)

    def ok(self, method, path, **kw):
        r = self.req(method, path, **kw)
        assert r.status_code == 200, "%s %s -> %d %s" % (method, path, r.status_code, r.text)
        return r.json()["data"]

    def get(self, path, **params):
        return self.ok("GET", path, params=params)

    def post(self, path, **data):
        return self.ok("POST", path, data=data)

    def wait(self, upid, timeout=60):
        node = upid.split(":")[1]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.get("/nodes/%s/tasks/%s/status" % (node, upid))
            if st["status"] == "stopped":
                return st
            time.sleep(0.05)
        raise AssertionError("task %s still running" % upid)


def control(method, what, **params):
    r = requests.request(method, URL + "/pvesim/" + what, params=params, verify=CERT, timeout=60)
    assert r.status_code == 200, "%s /pvesim/%s -> %d %s" % (method, what, r.status_code, r.text)
    return r.json()["data"]


def expect_status(resp, code):
    assert resp.status_code == code, "want %d, got %d: %s" % (code, resp.status_code, resp.text)
    body = resp.json()
    if code != 200:
        assert "data" in body and body["data"] is None, body
    return body


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def run_checks(argv):
    only = set(argv[1:])
    failed = 0
    for fn in CHECKS:
        if only and fn.__name__ not in only:
            continue
        try:
            fn()
            print("ok   %s" % fn.__name__, flush=True)
        except Exception as e:  # noqa: BLE001 - report every failing check
            failed += 1
            print("FAIL %s: %r" % (fn.__name__, e), flush=True)
        finally:
            try:
                control("POST", "reset")
            except Exception as e:  # noqa: BLE001
                print("reset failed: %r" % e)
    print("%d checks failed" % failed if failed else "all checks passed")
    return 1 if failed else 0


def dumps(o):
    return json.dumps(o, sort_keys=True)
