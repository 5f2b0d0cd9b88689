#!/usr/bin/env python3
"""API fuzzing: Schemathesis against the OpenAPI document a real server serves.

Usage: schemathesis_test.py --bin PATH/TO/forecourt --db URL [--venv DIR]
                            [--max-examples 12] [--max-time 70] [--seed 14]
  URL is sqlite://FILE (a fresh file) or postgres://… (an empty database).
Fills the database with a small simulated network (`forecourt simulate`), adds an admin
user and a POS token of the first station, starts `forecourt serve` (the binary given, built
with --release) on a free loopback port, and runs Schemathesis (installed into a venv,
the pinned version below) against /api/v1/openapi.json twice: once with the admin's
bearer token and once with the POS token. The only check is `not_a_server_error`: any
5xx answer, or a request the server drops, fails the run. Each run has a fixed number
of examples per operation and a time budget, with a fixed seed, so that CI's time
stays bounded and a failure can be reproduced. The server's log and Schemathesis's
reports are kept in the work directory printed at the start.
Prints `ok` last when both runs find no server error; otherwise `FAIL: reason` and exit
status 1. The server is always stopped on exit."""
import argparse, atexit, json, os, signal, socket, subprocess, sys, tempfile, time
import urllib.error, urllib.request

# Pinned, so that a new release cannot change what CI does; bump it deliberately.
SCHEMATHESIS = "schemathesis==4.32.5"
ADMIN, ADMIN_PASSWORD = "fuzz-admin", "Fuzz-pass-1234"

SERVERS = []


def stop_servers():
    for p in SERVERS:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


atexit.register(stop_servers)


def fail(msg):
    print("FAIL:", msg, flush=True)
    stop_servers()
    sys.exit(1)


def ensure_venv(venv):
    """A venv holding the pinned Schemathesis; made (or repaired) when needed."""
    exe = os.path.join(venv, "bin", "schemathesis")
    want = SCHEMATHESIS.split("==")[1]
    if os.path.exists(exe):
        r = subprocess.run([exe, "--version"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip().endswith(want):
            return exe
    if not os.path.exists(os.path.join(venv, "bin", "pip")):
        r = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"python3 -m venv {venv} failed (on Debian: apt-get install python3-venv): {r.stderr.strip()[-400:]}")
    print(f"installing {SCHEMATHESIS} into {venv}", flush=True)
    r = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check", SCHEMATHESIS],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"pip install {SCHEMATHESIS} failed: {r.stderr.strip()[-600:]}")
    return exe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--venv", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                   "target", "schemathesis-venv"))
    ap.add_argument("--max-examples", type=int, default=12, help="test cases per operation and phase")
    ap.add_argument("--max-time", type=int, default=60, help="seconds for each of the two runs")
    ap.add_argument("--seed", type=int, default=14)
    a = ap.parse_args()
    t0 = time.monotonic()
    exe = ensure_venv(os.path.abspath(a.venv))
    work = tempfile.mkdtemp(prefix="fc-schemathesis-")
    print(f"work directory {work}", flush=True)
    env = dict(os.environ)
    env.setdefault("FORECOURT_SECRET_FILE", os.path.join(work, "forecourt.secret"))
    # Schemathesis's own files (its cache) stay in the work directory.
    sx_env = dict(env, HOME=work)
    signal.signal(signal.SIGTERM, lambda *_: fail("terminated"))

    def fc(*args, stdin=None):
        r = subprocess.run([a.bin, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=600, env=env)
        if r.returncode != 0:
            fail(f"forecourt {' '.join(map(str, args))} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-400:]}")
        return r.stdout

    # A small network with customers, cards and sales, made through the rules.
    fc("simulate", "--db", a.db, "--stations", 2, "--customers", 30, "--days", 3, "--seed", 7)
    station = fc("stations", "list", "--db", a.db).split()[0]
    pos = fc("pos-token", "create", "--db", a.db, "--station", station).strip().splitlines()[-1].strip()
    fc("users", "add", "--db", a.db, "--username", ADMIN, "--role", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    base = f"http://127.0.0.1:{port}"
    log_path = os.path.join(work, "serve.log")
    log = open(log_path, "wb")
    srv = subprocess.Popen([a.bin, "serve", "--db", a.db, "--listen", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, env=env)
    SERVERS.append(srv)
    for _ in range(300):
        if srv.poll() is not None:
            fail(f"the server exited at start ({srv.returncode}): {open(log_path, errors='replace').read()[-400:]}")
        try:
            urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=2).read()
            break
        except Exception:
            time.sleep(0.1)
    else:
        fail("the server did not answer /api/v1/openapi.json within 30 s")

    req = urllib.request.Request(base + "/api/v1/auth/login", json.dumps({"username": ADMIN, "password": ADMIN_PASSWORD}).encode(),
                                 {"Content-Type": "application/json"}, method="POST")
    try:
        admin = json.loads(urllib.request.urlopen(req, timeout=30).read())["token"]
    except urllib.error.HTTPError as e:
        fail(f"admin sign-in answered {e.code} {e.read()[:300]!r}")

    results = []
    for who, token in (("admin", admin), ("pos", pos)):
        report = os.path.join(work, f"{who}.junit.xml")
        cmd = [
            exe, "run", base + "/api/v1/openapi.json",
            "--checks", "not_a_server_error",
            "--max-examples", str(a.max_examples),
            "--max-time", str(a.max_time),
            "--seed", str(a.seed),
            "--workers", "1",  # Python 3.11's ast.parse is not thread-safe (hypothesis calls it)
            "--phases", "examples,coverage,fuzzing",
            "--request-timeout", "30",
            "--suppress-health-check", "all",
            "--no-shrink",
            "--warnings", "off",
            "-H", f"Authorization: Bearer {token}",
            # Signing out would end the token for the rest of the run; sign-in is
            # fuzzed without a token by both runs alike.
            "--exclude-path", "/api/v1/auth/logout",
            "--report", "junit", "--report-junit-path", report,
        ]
        t = time.monotonic()
        print(f"==> schemathesis as {who} (seed {a.seed}, {a.max_examples} examples per operation, at most {a.max_time} s)", flush=True)
        r = subprocess.run(cmd, env=sx_env, cwd=work, timeout=a.max_time * 3 + 120)
        results.append((who, r.returncode, time.monotonic() - t))
    if srv.poll() is not None:
        fail(f"the server exited during the run ({srv.returncode}); log {log_path}")
    for who, rc, secs in results:
        print(f"schemathesis as {who}: exit {rc} in {secs:.0f} s")
    bad = [who for who, rc, _ in results if rc != 0]
    if bad:
        fail(f"Schemathesis found server errors (or could not run) as {', '.join(bad)}; server log {log_path}, reports in {work}")
    print(f"both runs: no server error ({time.monotonic() - t0:.0f} s in all)")
    print("ok")


if __name__ == "__main__":
    main()
