"""The web shop's SQLite database, made and changed by the real sqlite3 CLI.

build(seed, path, target_bytes): a database of customers and orders (events) with two
secondary indexes, created before the rows are inserted so that their pages split and fill as
they do in a database that grew over time. The rows come from a seeded SQL generator that runs
inside sqlite3 (a recursive CTE with an integer hash), with text taken from a seeded corpus, so
the file is the same bytes for the same seed and sqlite3 version.

day_sql(seed, day, state): one day of the shop's traffic as SQL: hourly transactions that insert
new orders (at the end of the table, and at random places of the customer index), move some
orders to their next status (recent ones mostly, some old ones), update customers; every 7th
day a retention job deletes the oldest orders (their pages go to SQLite's free list).
apply(path, sql) runs it with journal_mode=PERSIST and returns the rollback journal SQLite left
behind (the last transaction's), which the image writes and deletes as DELETE mode does.
"""
import os
import subprocess

from . import text
from .rng import rng

ROW_BYTES = 370  # bytes of database file per order row, indexes and customers included (measured)
T_START = 1700000000


class SqliteError(RuntimeError):
    pass


def _sqlite(path, sql):
    p = subprocess.run(["sqlite3", "-batch", "-bail", path], input=sql.encode(), capture_output=True)
    if p.returncode != 0:
        raise SqliteError(f"sqlite3 {path}: {p.stderr.decode().strip()}")
    return p.stdout.decode()


def _quote(s):
    return "'" + s.replace("'", "''") + "'"


def build(seed, path, target_bytes):
    """Creates the database; returns the state day_sql needs (row counts)."""
    orders = max(2000, target_bytes // ROW_BYTES)
    customers = max(200, orders // 12)
    r = rng(seed, "db", "corpus")
    corpus = [" ".join(text.words(r, 400))[:2000] for _ in range(1024)]
    h0 = rng(seed, "db", "hash").getrandbits(31)
    sql = [
        "PRAGMA page_size=4096;",
        "PRAGMA journal_mode=OFF;",
        "PRAGMA synchronous=OFF;",
        "PRAGMA cache_size=-131072;",
        "CREATE TEMP TABLE corpus(id INTEGER PRIMARY KEY, t TEXT);",
        "BEGIN;",
    ]
    sql += [f"INSERT INTO corpus VALUES({i},{_quote(t)});" for i, t in enumerate(corpus)]
    sql += [
        "COMMIT;",
        "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,"
        " city TEXT, created INTEGER NOT NULL, last_seen INTEGER,"
        " visits INTEGER NOT NULL DEFAULT 0, notes TEXT);",
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),"
        " ts INTEGER NOT NULL, kind TEXT NOT NULL, status INTEGER NOT NULL,"
        " total_cents INTEGER NOT NULL, payload TEXT);",
        "CREATE INDEX orders_customer ON orders(customer_id, ts);",
        "CREATE INDEX orders_status ON orders(status, ts);",
        "BEGIN;",
        # h: a 31-bit LCG walked once per row; a, b, c: three mixes of it.
        f"WITH RECURSIVE s(i, h) AS (SELECT 1, {h0} UNION ALL"
        f" SELECT i + 1, (h * 1103515245 + 12345) % 2147483648 FROM s WHERE i < {customers}),"
        " v(i, a, b, c) AS (SELECT i, h >> 4, ((h * 69069 + 1) % 2147483648) >> 4,"
        " ((h * 134775813 + 1) % 2147483648) >> 4 FROM s)"
        " INSERT INTO customers SELECT i,"
        " (SELECT substr(t, 1 + a % 1900, 6 + b % 14) FROM corpus WHERE id = c % 1024),"
        " printf('user%d.%d@example.org', i, a % 1000),"
        " (SELECT substr(t, 1 + b % 1900, 5 + c % 10) FROM corpus WHERE id = a % 1024),"
        f" {T_START} - 86400 * (a % 900), {T_START} - (b % 86400), c % 200,"
        " CASE WHEN a % 4 = 0 THEN"
        " (SELECT substr(t, 1 + c % 1500, 20 + a % 300) FROM corpus WHERE id = b % 1024) END FROM v;",
        f"WITH RECURSIVE s(i, h) AS (SELECT 1, {h0 ^ 0x5bd1e995} UNION ALL"
        f" SELECT i + 1, (h * 1103515245 + 12345) % 2147483648 FROM s WHERE i < {orders}),"
        " v(i, a, b, c) AS (SELECT i, h >> 4, ((h * 69069 + 1) % 2147483648) >> 4,"
        " ((h * 134775813 + 1) % 2147483648) >> 4 FROM s)"
        f" INSERT INTO orders SELECT i, 1 + a % {customers}, {T_START} - {orders * 60} + i * 60 + b % 60,"
        " CASE b % 7 WHEN 0 THEN 'refund' WHEN 1 THEN 'pickup' ELSE 'order' END,"
        f" CASE WHEN i < {orders} * 0.97 THEN 4 ELSE c % 5 END, 100 + (a * 7) % 50000,"
        ' printf(\'{"sku":"%06d","qty":%d,"ship":"%s","note":"%s"}\', b % 1000000, 1 + c % 9,'
        " (SELECT substr(t, 1 + c % 1800, 20 + a % 40) FROM corpus WHERE id = b % 1024),"
        " (SELECT substr(t, 1 + a % 1600, 30 + b % 330) FROM corpus WHERE id = c % 1024)) FROM v;",
        "COMMIT;",
    ]
    if os.path.exists(path):
        os.unlink(path)
    _sqlite(path, "\n".join(sql) + "\n")
    return {"orders": orders, "customers": customers, "max_id": orders, "min_id": 1}


def day_sql(seed, day, state, t_begin, scale_rows):
    """One day of traffic as SQL text; updates state (ids) for the next day."""
    r = rng(seed, "db", "day", day)
    orders = state["orders"]
    ins_total = max(24, int(orders * 0.004 * scale_rows))
    upd_total = max(24, int(orders * 0.0015 * scale_rows))
    cust_total = max(12, int(state["customers"] * 0.004 * scale_rows))
    # SQLite's own PRNG makes the journal's checksum nonce: seed it, so the journal is the same
    # bytes on every run.
    out = [f".testctrl prng_seed {r.getrandbits(31)}", "PRAGMA journal_mode=PERSIST;"]
    next_id = state["max_id"] + 1
    for hour in range(24):
        t = t_begin + hour * 3600
        out.append("BEGIN;")
        rows = []
        for _ in range(ins_total // 24):
            note = " ".join(text.words(r, 6 + r.randrange(50)))
            ship = " ".join(text.words(r, 4))
            payload = (
                f'{{"sku":"{r.randrange(1000000):06d}","qty":{1 + r.randrange(9)},'
                f'"ship":"{ship}","note":"{note}"}}'
            )
            rows.append(
                f"({next_id},{1 + r.randrange(state['customers'])},{t + r.randrange(3600)},'order',0,"
                f"{100 + r.randrange(50000)},{_quote(payload)})"
            )
            next_id += 1
        if rows:
            out.append("INSERT INTO orders VALUES " + ",\n".join(rows) + ";")
        lo = state["min_id"]
        recent = max(lo, next_id - max(100, orders // 20))
        ids = sorted(
            {
                recent + r.randrange(next_id - recent)
                if r.random() < 0.75
                else lo + r.randrange(next_id - lo)
                for _ in range(upd_total // 24)
            }
        )
        if ids:
            out.append(
                f"UPDATE orders SET status = min(status + 1, 4), ts = {t + 1800}"
                f" WHERE id IN ({','.join(map(str, ids))});"
            )
        cids = sorted({1 + r.randrange(state["customers"]) for _ in range(cust_total // 24)})
        if cids:
            out.append(
                f"UPDATE customers SET last_seen = {t + 1200}, visits = visits + 1"
                f" WHERE id IN ({','.join(map(str, cids))});"
            )
        out.append("COMMIT;")
    # Weekly retention (Sunday night, every 7th day): the oldest orders go.
    if day % 7 == 0:
        drop = max(10, int(orders * 0.014 * scale_rows))
        out.append(f"BEGIN; DELETE FROM orders WHERE id < {state['min_id'] + drop}; COMMIT;")
        state["min_id"] += drop
    state["max_id"] = next_id - 1
    return "\n".join(out) + "\n"


def apply(path, sql):
    """Runs the SQL on the database; returns the rollback journal's bytes (b'' if none)."""
    journal = path + "-journal"
    if os.path.exists(journal):
        os.unlink(journal)
    _sqlite(path, sql)
    data = b""
    if os.path.exists(journal):
        with open(journal, "rb") as f:
            data = f.read()
        os.unlink(journal)
    return data
