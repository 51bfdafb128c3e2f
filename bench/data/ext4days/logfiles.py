"""Log files in the formats of rsyslog (syslog, auth, kern, an application), nginx (access) and
dpkg, with timestamps rising through a given interval. Real logs repeat a few hundred messages
with varying numbers and names: gzip compresses these about 9x, as it does Debian's logs.
"""
from .text import _MONTHS, _utc, words


def _syslog_stamp(t):
    g = _utc(t)
    return f"{_MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"


def _iso_stamp(t):
    g = _utc(t)
    return f"{g.tm_year}-{g.tm_mon:02d}-{g.tm_mday:02d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"


def _clf_stamp(t):
    g = _utc(t)
    day = f"{g.tm_mday:02d}/{_MONTHS[g.tm_mon - 1]}/{g.tm_year}"
    return f"{day}:{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} +0000"


_SYSLOG_TEMPLATES = [
    ("CRON[{pid}]", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"),
    ("CRON[{pid}]", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"),
    ("CRON[{pid}]", "pam_unix(cron:session): session closed for user root"),
    ("systemd[1]", "Starting {w0}-{w1}.service - {W} {w2}..."),
    ("systemd[1]", "Finished {w0}-{w1}.service - {W} {w2}."),
    ("systemd[1]", "{w0}-{w1}.timer: Succeeded."),
    ("kernel", "[{k}] {w0}: {w1} {w2} at 0x{x} (irq {n})"),
    ("sshd[{pid}]", "Accepted publickey for admin from 10.{n}.{m}.{o} port {p} ssh2: ED25519 SHA256:{h}"),
    ("sshd[{pid}]", "Disconnected from user admin 10.{n}.{m}.{o} port {p}"),
    ("shop-api[{pid}]", "INFO request path=/api/{w0}/{n} status=200 duration_ms="),
    ("shop-api[{pid}]", "WARN slow query on {w0}.{w1} ({w2} {w3}) took ms="),
    ("postfix/qmgr[{pid}]", "{H}: from=<{w0}@example.org>, size={p}, nrcpt=1 (queue active)"),
    ("chronyd[{pid}]", "Selected source 192.168.{n}.{m} ({w0}.pool.ntp.org)"),
    ("rsyslogd[{pid}]", '[origin software="rsyslogd" swVersion="8.2302.0"] {w0} {w1}'),
]


_STYLE_TEMPLATES = {
    "syslog": range(len(_SYSLOG_TEMPLATES)),
    "kern": (6,),
    "auth": (1, 2, 7, 8),
    "app": (9, 9, 9, 10),
}


def _bodies(r, style, host, count=512):
    """Message bodies of one log: real logs repeat a few hundred messages with varying numbers."""
    pids = [100 + r.randrange(60000) for _ in range(24)]
    pool = words(r, 48)
    out = []
    for _ in range(count):
        if style == "access":
            ws = [pool[r.randrange(len(pool))] for _ in range(3)]
            ip = f"10.{r.randrange(4)}.{r.randrange(40)}.{r.randrange(256)}"
            req = (
                f"{r.choice(('GET', 'GET', 'GET', 'POST'))} /{ws[0]}/{ws[1]}?id={r.randrange(3000)} HTTP/1.1"
            )
            code = r.choice((200, 200, 200, 200, 304, 301, 404, 500))
            ua = (
                f"Mozilla/5.0 (X11; Linux x86_64; rv:{115 + r.randrange(4)}.0) Gecko/20100101 "
                f"Firefox/{115 + r.randrange(4)}.0"
            )
            out.append((f"{ip} - - [", f'] "{req}" {code} ', f' "https://shop.example.org/{ws[2]}" "{ua}"'))
        elif style == "dpkg":
            w = pool[r.randrange(len(pool))]
            v = f"{r.randrange(10)}.{r.randrange(20)}-{r.randrange(5)}"
            act = r.choice(
                (
                    "status unpacked",
                    "status half-configured",
                    "status installed",
                    "configure",
                    "status half-installed",
                    "upgrade",
                )
            )
            out.append(("", f" {act} {w}:amd64 {v} ", ""))
        else:
            proc, tpl = _SYSLOG_TEMPLATES[r.choice(_STYLE_TEMPLATES[style])]
            ws = [pool[r.randrange(len(pool))] for _ in range(4)]
            body = tpl.format(
                w0=ws[0],
                w1=ws[1],
                w2=ws[2],
                w3=ws[3],
                W=ws[3].title(),
                n=r.randrange(8),
                m=r.randrange(100),
                o=r.randrange(256),
                p=r.randrange(1024, 65536),
                x=f"{r.getrandbits(32):08x}",
                h=f"{r.getrandbits(64):016x}",
                H=f"{r.getrandbits(40):010X}",
                k="{k}",
            )
            out.append(
                (
                    "",
                    f" {host} {proc.format(pid=r.choice(pids))}: " + body.split("{k}")[0],
                    body.split("{k}")[1] if "{k}" in body else "",
                )
            )
    return out


def log_lines(r, n, t0, t1, style="syslog", host="srv01"):
    """About n bytes of log lines (whole lines) with timestamps rising from t0 to t1, in the
    format of rsyslog (syslog, auth, kern, app), nginx (access) or dpkg (dpkg)."""
    stamp_fn = {"access": _clf_stamp, "dpkg": _iso_stamp}.get(style, _syslog_stamp)
    avg = {"access": 200, "dpkg": 60}.get(style, 100)
    bodies = _bodies(r, style, host)
    count = max(1, n // avg)
    step = (t1 - t0) / count
    out = []
    size = 0
    i = 0
    last_t, stamp = None, ""
    while size < n:
        rnd = memoryview(r.randbytes(4 * count)).cast("I")
        for v in rnd:
            ti = int(t0 + min(i, count) * step)
            if ti != last_t:
                stamp, last_t = stamp_fn(ti), ti
            pre, mid, post = bodies[((v & 0xFFFF) * (v & 0xFFFF)) >> 23]
            if style == "kern":
                num = f"{ti - t0 + 5:>5}.{(v >> 12) % 1000000:06d}"
                line = stamp + mid + num + post
            elif style == "access":
                line = pre + stamp + mid + str(v >> 17) + post
            elif style == "dpkg" or not mid.endswith("="):
                line = stamp + mid + post
            else:
                line = stamp + mid + str(v >> 22) + post
            out.append(line)
            size += len(line) + 1
            i += 1
            if size >= n:
                break
    return ("\n".join(out) + "\n").encode()
