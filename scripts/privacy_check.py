#!/usr/bin/env python3
"""Privacy and audit check of a database the POS contract check has filled.

Usage: privacy_check.py --bin PATH/TO/forecourt --db URL [--pg-bin DIR]
Run after ../shared/conformance/pos_contract.py on the same database (it creates
customers named 契约测试 with phones 13800138000 and 13900139000). Checks that:
  1. `forecourt audit verify` passes on the untouched database;
  2. a copy of the database (the SQLite file with its WAL, or a pg_dump) holds none of
     those names or phone numbers in plain text, while it does hold a value stored in
     the clear (a station code), so the scan itself is known to work;
  3. after one audit row is altered directly in the database (its append-only trigger
     dropped first), `forecourt audit verify` fails.
Prints `ok` last when everything holds; otherwise `FAIL: reason` and exit status 1.
The database is altered by step 3: use a throwaway one."""
import argparse, os, sqlite3, subprocess, sys

NEEDLES = ["契约测试", "13800138000", "13900139000"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--pg-bin", default="", help="directory of pg_dump and psql")
    a = ap.parse_args()
    tool = lambda name: os.path.join(a.pg_bin, name) if a.pg_bin else name

    def verify():
        return subprocess.run([a.bin, "audit", "verify", "--db", a.db], capture_output=True, text=True, timeout=120)

    r = verify()
    if r.returncode != 0:
        fail(f"audit verify on the untouched database: {r.stdout.strip()} {r.stderr.strip()[-300:]}")
    print("audit verify (untouched):", r.stdout.strip())

    if a.db.startswith("sqlite:"):
        path = a.db.split("://", 1)[-1].split("?")[0]
        data = b""
        for p in (path, path + "-wal"):
            if os.path.exists(p):
                with open(p, "rb") as f:
                    data += f.read()
    else:
        data = subprocess.run([tool("pg_dump"), "--data-only", a.db], capture_output=True, check=True, timeout=120).stdout
    if b"S001" not in data:
        fail("the scan does not see a value stored in the clear (station code S001): the scan is broken")
    for n in NEEDLES:
        if n.encode() in data:
            fail(f"{n} is stored in plain text")
    print(f"plain-text scan: none of {NEEDLES} in {len(data)} bytes")

    if a.db.startswith("sqlite:"):
        con = sqlite3.connect(path)
        con.execute("drop trigger audit_log_no_update")
        con.execute("update audit_log set actor = 'user:intruder' where seq = 2")
        con.commit()
        con.close()
    else:
        sql = "drop trigger audit_log_no_change on audit_log; update audit_log set actor = 'user:intruder' where seq = 2;"
        subprocess.run([tool("psql"), "-q", a.db, "-c", sql], check=True, capture_output=True, timeout=60)
    r = verify()
    if r.returncode == 0:
        fail(f"audit verify passed after a row was altered: {r.stdout.strip()}")
    print("audit verify (after altering entry 2):", r.stdout.strip())
    print("ok")


main()
