#!/usr/bin/env python3
"""Database outage test: while PostgreSQL is away the server tells the truth (503,
Retry-After, database_unavailable, never 500) and it recovers without a restart.

Usage: db_outage_test.py --bin PATH/TO/forecourt --pg-bin /usr/lib/postgresql/N/bin
                         [--threads 8] [--customers 16] [--load-seconds 2]
                         [--down-seconds 8]
Starts a throwaway PostgreSQL cluster of its own (a free loopback port, a temporary
directory; as root the server side runs as the `postgres` user), sets up a station, a POS
token and an admin with the administration commands, starts `forecourt serve` and funds
a card per customer. Then threads post card sales continuously (quote, then the sale for
the quoted amount, each with a unique pos_txn_id) and the database is stopped with
`pg_ctl stop -m immediate` under that load. While it is down, the script checks:
  (a) every answer, to requests in flight at the stop and to new ones, is 503 with a
      Retry-After header and the error code database_unavailable (never 500, never the
      serialisation code `unavailable`), and comes within the client's time-out;
  (b) GET /healthz answers 503 with "database": "down".
PostgreSQL is started again (the server is not restarted), and the script checks:
  (c) /healthz answers 200 again and new sales answer 201;
  (d) every sale left without a 201 (a 503 or no answer) posted again with the same
      pos_txn_id answers 200 (it had committed) or 201 (it had not);
  (e) every card's balance is its funded balance less the sales known committed (nothing
      lost, nothing taken twice), and after stopping the server `forecourt check` exits 0.
The last line is `ok` when everything holds, otherwise `FAIL: reason` (exit status 1).
The server and the cluster are always stopped and removed on exit."""
import argparse, atexit, http.client, json, os, random, shutil, signal, socket, subprocess, sys, tempfile, threading, time
import uuid

def till_now():
    """The till's clock: now, in China's time zone, as a live till sends it (the server
    refuses a live write too far from its own clock); a replay resends its kept body."""
    import datetime
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).isoformat(timespec="seconds")


RECHARGE = 500000
PRICE = 789
CLIENT_TIMEOUT = 30

SERVERS = []
CLUSTER = {}


def as_pg(cmd):
    """A PostgreSQL server command, as the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def cleanup():
    for p in SERVERS:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(10)
            except Exception:
                pass
    if CLUSTER.get("data"):
        subprocess.run(as_pg([CLUSTER["pg_ctl"], "-D", CLUSTER["data"], "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
    if CLUSTER.get("dir"):
        shutil.rmtree(CLUSTER["dir"], ignore_errors=True)


atexit.register(cleanup)


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pg-bin", required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--customers", type=int, default=16)
    ap.add_argument("--load-seconds", type=float, default=2.0)
    ap.add_argument("--down-seconds", type=float, default=8.0)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: fail("terminated"))
    run = uuid.uuid4().hex[:8]
    binary = os.path.abspath(a.bin)

    # ---- the cluster ---------------------------------------------------------------------
    work = tempfile.mkdtemp(prefix="fc-outage-", dir="/tmp")
    CLUSTER.update(dir=work, pg_ctl=os.path.join(a.pg_bin, "pg_ctl"))
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
    data = os.path.join(work, "pgdata")
    pg_port = free_port()
    r = subprocess.run(as_pg([os.path.join(a.pg_bin, "initdb"), "-D", data, "-A", "trust", "-U", "forecourt",
                              "--encoding=UTF8", "--locale=C"]), capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"initdb: {r.stderr[-400:]}")
    CLUSTER["data"] = data
    pg_log = os.path.join(work, "postgres.log")

    def pg_start():
        r = subprocess.run(as_pg([CLUSTER["pg_ctl"], "-D", data, "-l", pg_log, "-o",
                                  f"-c listen_addresses=127.0.0.1 -p {pg_port} -k {work}", "-w", "start"]),
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"pg_ctl start: {r.stderr[-400:]} {open(pg_log, errors='replace').read()[-400:]}")

    def pg_stop_immediate():
        r = subprocess.run(as_pg([CLUSTER["pg_ctl"], "-D", data, "-m", "immediate", "-w", "stop"]),
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"pg_ctl stop -m immediate: {r.stderr[-400:]}")

    pg_start()
    r = subprocess.run([os.path.join(a.pg_bin, "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "forecourt",
                        "outage"], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"createdb: {r.stderr[-400:]}")
    db = f"postgres://forecourt@127.0.0.1:{pg_port}/outage"

    env = dict(os.environ)
    env["FORECOURT_SECRET_FILE"] = os.path.join(work, "forecourt.secret")
    env["FORECOURT_DATA_KEY_FILE"] = os.path.join(work, "forecourt.keys")
    env.pop("FORECOURT_LOG_FORMAT", None)

    def fc(*args, stdin=None):
        r = subprocess.run([binary, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=600,
                           env=env, cwd=work)
        if r.returncode != 0:
            fail(f"forecourt {' '.join(map(str, args))} exited {r.returncode}: {(r.stderr or r.stdout)[-400:]}")
        return r

    fc("migrate", "--db", db)
    fc("stations", "add", "--db", db, "--code", "S001", "--name", "Outage Test Station")
    pos = fc("pos-token", "create", "--db", db, "--station", "S001").stdout.strip().splitlines()[-1].strip()
    fc("users", "add", "--db", db, "--username", "outage", "--role", "admin", "--password-stdin",
       stdin="Outage-pass-1234\n")

    # ---- the server ----------------------------------------------------------------------
    host, port = "127.0.0.1", free_port()
    serve_log = os.path.join(work, "serve.log")
    srv = subprocess.Popen([binary, "serve", "--db", db, "--listen", f"{host}:{port}"],
                           stdout=open(serve_log, "wb"), stderr=subprocess.STDOUT, env=env, cwd=work)
    SERVERS.append(srv)

    def request(method, path, body=None, token=None, timeout=CLIENT_TIMEOUT):
        """-> (status, headers, parsed body); status None when no answer came."""
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json", "Connection": "close"}
            if token:
                headers["Authorization"] = "Bearer " + token
            conn.request(method, path, None if body is None else json.dumps(body).encode(), headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except Exception:
                parsed = raw.decode(errors="replace")
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
        except Exception as e:
            return None, {}, repr(e)
        finally:
            conn.close()

    for _ in range(300):
        if srv.poll() is not None:
            fail(f"the server exited at start: {open(serve_log, errors='replace').read()[-400:]}")
        if request("GET", "/healthz", timeout=2)[0] == 200:
            break
        time.sleep(0.1)
    else:
        fail("the server did not answer /healthz within 30 s")

    st, _, r = request("POST", "/api/v1/auth/login", {"username": "outage", "password": "Outage-pass-1234"})
    if st != 200:
        fail(f"login answered {st} {r}")
    staff = r["token"]

    def balance(no):
        st, _, k = request("GET", f"/api/v1/cards/{no}", token=staff)
        if st != 200:
            fail(f"GET /api/v1/cards/{no} answered {st} {k}")
        return k["balance_fen"]

    cards = []
    for i in range(a.customers):
        st, _, c = request("POST", "/api/v1/customers",
                           {"kind": "individual", "name": f"停库测试{i}", "phone": f"1390000{i:04d}"}, staff)
        if st != 201:
            fail(f"create customer answered {st} {c}")
        st, _, k = request("POST", "/api/v1/cards", {"customer_id": c["id"], "kind": "personal"}, staff)
        if st != 201:
            fail(f"issue card answered {st} {k}")
        no = str(k["card_no"]).replace(" ", "")
        st, _, rc = request("POST", "/api/v1/pos/recharges",
                            {"pos_txn_id": f"OR-{run}-{i}", "station_code": "S001", "occurred_at": till_now(), "card_no": no,
                             "amount_fen": RECHARGE, "payments": [{"method": "cash", "amount_fen": RECHARGE}]}, pos)
        if st != 201:
            fail(f"recharge answered {st} {rc}")
        cards.append(no)
    start_bal = {no: balance(no) for no in cards}

    # ---- load, stop, load ----------------------------------------------------------------
    phase = ["up"]  # up | down | back
    lock = threading.Lock()
    sales = []  # dict(body, card, quoted, phase, status, headers, resp)
    answers = []  # (phase at send, path, status, headers, resp, seconds)
    stop = threading.Event()

    def worker(t):
        rng = random.Random(t)
        mine = cards[t::a.threads]
        seq = 0
        while mine and not stop.is_set():
            no = mine[seq % len(mine)]
            seq += 1
            body = {"pos_txn_id": f"OT-{run}-{t}-{seq}", "station_code": "S001", "occurred_at": till_now(),
                    "customer": {"card_no": no},
                    "lines": [{"product_code": "GASOLINE_95", "volume_ml": rng.randint(1000, 3000), "unit_price_fen": PRICE}]}
            p0, t0 = phase[0], time.monotonic()
            st, h, q = request("POST", "/api/v1/pos/quotes", body, pos)
            with lock:
                answers.append((p0, "quote", st, h, q, time.monotonic() - t0))
            if st != 200:
                time.sleep(0.2)
                continue
            body["payments"] = [{"method": "card", "card_no": no, "amount_fen": q["net_amount_fen"]}]
            p0, t0 = phase[0], time.monotonic()
            st, h, r = request("POST", "/api/v1/pos/sales", body, pos)
            with lock:
                answers.append((p0, "sale", st, h, r, time.monotonic() - t0))
                sales.append({"body": body, "card": no, "quoted": q["net_amount_fen"], "phase": p0, "status": st,
                              "resp": r})
            if st != 201:
                time.sleep(0.2)

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(a.threads)]
    for th in threads:
        th.start()
    time.sleep(a.load_seconds)
    with lock:
        before = sum(1 for s in sales if s["status"] == 201)
    if before == 0:
        fail(f"no sale committed in {a.load_seconds} s of load before the stop: {answers[:3]}")
    phase[0] = "down"
    t_stop = time.monotonic()
    pg_stop_immediate()
    print(f"{before} sales committed before `pg_ctl stop -m immediate`", flush=True)
    time.sleep(a.down_seconds)
    st, h, health = request("GET", "/healthz")
    problems = []
    if st != 503 or not isinstance(health, dict) or health.get("database") != "down" or "retry-after" not in h:
        problems.append(f"(b) /healthz with the database down answered {st} {h.get('retry-after')} {health}")
    else:
        print(f"(b) /healthz while down: 503, Retry-After {h['retry-after']}, {health}")
    phase[0] = "back"
    pg_start()
    t_back = time.monotonic()
    print(f"PostgreSQL down for {t_back - t_stop:.1f} s; started again", flush=True)
    for _ in range(600):
        if request("GET", "/healthz", timeout=5)[0] == 200:
            break
        time.sleep(0.1)
    else:
        problems.append("(c) /healthz did not answer 200 within 60 s of PostgreSQL's return")
    t_healthy = time.monotonic()
    print(f"(c) /healthz 200 again {t_healthy - t_back:.1f} s after the start", flush=True)
    time.sleep(1.5)
    stop.set()
    for th in threads:
        th.join(2 * CLIENT_TIMEOUT + 10)
        if th.is_alive():
            fail("a load thread did not finish")

    # ---- (a): what was answered while the database was away ------------------------------
    down = [x for x in answers if x[0] == "down"]
    kinds = {}
    for _, path, st, h, r, secs in down:
        code = r.get("error", {}).get("code") if isinstance(r, dict) else None
        kinds[(path, st, code)] = kinds.get((path, st, code), 0) + 1
    print("(a) answers sent while PostgreSQL was down:",
          ", ".join(f"{n} {path} {st} {code or ''}".strip() for (path, st, code), n in sorted(kinds.items(), key=str)))
    bad = []
    for _, path, st, h, r, secs in down:
        code = r.get("error", {}).get("code") if isinstance(r, dict) else None
        if st in (200, 201):
            continue  # answered from a connection that was still good, or before the stop bit
        if st != 503 or code != "database_unavailable" or not h.get("retry-after", "").isdigit():
            bad.append((path, st, h.get("retry-after"), r, f"{secs:.1f} s"))
    if not down:
        problems.append("(a) no request was sent while the database was down")
    if bad:
        problems.append(f"(a) {len(bad)} answer(s) while down were not 503 + Retry-After + database_unavailable; "
                        f"first: {str(bad[0])[:400]}")
    n503 = sum(1 for x in down if x[2] == 503)
    if n503 == 0:
        problems.append("(a) no request was answered 503 while the database was down")
    in_flight = [s for s in sales if s["phase"] == "up" and s["status"] != 201]
    server_errors = [x for x in answers if x[2] is not None and x[2] >= 500 and x[2] != 503]
    if server_errors:
        x = server_errors[0]
        problems.append(f"{len(server_errors)} answer(s) of 5xx other than 503; first: {x[1]} {x[2]} {str(x[4])[:300]}")
    back_ok = sum(1 for s in sales if s["phase"] == "back" and s["status"] == 201)
    print(f"(c) {back_ok} sales committed after PostgreSQL's return, without restarting the server")
    if back_ok == 0:
        problems.append("(c) no sale committed after PostgreSQL's return")
    if srv.poll() is not None:
        problems.append(f"the server exited ({srv.returncode}) during the outage")

    # ---- (d), (e): replay what is unknown, then the balances ----------------------------
    unsure = [s for s in sales if s["status"] != 201]
    replay_bad = []
    for s in unsure:
        st, _, r = request("POST", "/api/v1/pos/sales", s["body"], pos)
        if st in (200, 201) and isinstance(r, dict) and r.get("net_amount_fen") == s["quoted"]:
            s["status"] = 201
            s["net"] = r["net_amount_fen"]
        else:
            replay_bad.append((s["body"]["pos_txn_id"], st, r))
    print(f"(d) {len(unsure)} sales without a 201 ({len(in_flight)} sent before the stop) posted again: "
          f"{len(unsure) - len(replay_bad)} answered 200/201")
    if replay_bad:
        problems.append(f"(d) {len(replay_bad)} replayed sale(s) answered otherwise; first {str(replay_bad[0])[:300]}")
    spent = {no: 0 for no in cards}
    for s in sales:
        if s["status"] == 201:
            net = s.get("net") or (s["resp"].get("net_amount_fen") if isinstance(s["resp"], dict) else None)
            spent[s["card"]] += net if net is not None else s["quoted"]
    wrong = [(no, start_bal[no] - spent[no], balance(no)) for no in cards if balance(no) != start_bal[no] - spent[no]]
    if wrong:
        problems.append(f"(e) {len(wrong)} card balance(s) differ from the sales known committed; first "
                        f"(card, expected, found): {wrong[0]}")
    else:
        print(f"(e) {len(cards)} card balances equal their funding less the {sum(1 for s in sales if s['status'] == 201)} sales committed")
    srv.send_signal(signal.SIGTERM)
    try:
        srv.wait(30)
    except subprocess.TimeoutExpired:
        srv.kill()
    r = subprocess.run([binary, "check", "--db", db], capture_output=True, text=True, env=env, cwd=work)
    if r.returncode != 0:
        problems.append(f"(e) forecourt check exited {r.returncode}: {(r.stdout + r.stderr)[-400:]}")
    else:
        print(f"(e) forecourt check: {r.stdout.strip().splitlines()[-1] if r.stdout.strip() else 'exit 0'}")
    if problems:
        print("the server's log, last lines:\n" + open(serve_log, errors="replace").read()[-3000:])
        fail("; ".join(problems))
    print("ok")


if __name__ == "__main__":
    main()
