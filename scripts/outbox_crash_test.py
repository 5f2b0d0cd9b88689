#!/usr/bin/env python3
"""Outbox crash test (issue 16, acceptance 6): a batch of emails survives a SIGKILL of
the server in the middle of its delivery, every email arrives, and a resend carries the
Message-ID of the first copy.

Usage: outbox_crash_test.py --bin PATH/TO/forecourt --db URL [--count 1000]
                            [--concurrency 4] [--kills 1] [--lease-secs 3]
                            [--venv target/smtp-venv] [--timeout 120]
  URL is sqlite://FILE (a fresh file) or postgres://… (an empty database).
Starts a real SMTP server (scripts/smtp_sink.py: aiosmtpd from PyPI in a venv, every
accepted message one file of a Maildir), migrates the database and enqueues COUNT test
emails with `forecourt outbox test-batch` (one transaction). Then it starts
`forecourt serve` with FORECOURT_SMTP_URL pointing at that server and the worker's
concurrency and lease set, and --kills times: waits until a share of the batch has
arrived (1/(kills+1), 2/(kills+1), …) and kills the server with SIGKILL, then starts it
again on the same database. After the last start it waits until every email has
arrived (and one lease longer, for late resends), stops the server and checks:
  (a) the mailbox holds exactly COUNT distinct Message-IDs, one per email of the batch
      (its subject `Forecourt test i/COUNT`), each of the form <id@forecourt>;
  (b) a message that arrived twice arrived with the same Message-ID both times (no
      subject under two Message-IDs), and the extra copies are at most the worker's
      concurrency per kill (only messages in flight at a kill are sent again);
  (c) `forecourt outbox status` counts COUNT emails sent and no other email state.
Prints the figures; the last line is `ok` when everything holds (the work directory is
then removed), otherwise `FAIL: reason` and exit status 1 (the directory, with the
servers' logs and the mailbox, is kept). The servers and the SMTP server are always stopped."""
import argparse, atexit, email.parser, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

CHILDREN = []


def stop_children():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(stop_children)


def fail(why):
    print(f"FAIL: {why}", flush=True)
    sys.exit(1)


def read_mailbox(maildir):
    """(Message-ID, Subject) of every message in the Maildir."""
    out = []
    parser = email.parser.BytesHeaderParser()
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                h = parser.parse(f)
            out.append((h.get("Message-ID", ""), h.get("Subject", "")))
    return out


def count_files(maildir):
    d = os.path.join(maildir, "new")
    return len(os.listdir(d)) if os.path.isdir(d) else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--kills", type=int, default=1)
    ap.add_argument("--lease-secs", type=int, default=3)
    ap.add_argument("--venv", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "smtp-venv"))
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: fail("terminated"))
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="fc-outbox-crash-")
    maildir = os.path.join(work, "mail")
    port_file = os.path.join(work, "smtp.port")
    sink = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_sink.py"),
         "--maildir", maildir, "--port-file", port_file, "--venv", a.venv],
        stdout=open(os.path.join(work, "smtp.log"), "w"), stderr=subprocess.STDOUT)
    CHILDREN.append(sink)
    deadline = time.monotonic() + 300  # the first run installs aiosmtpd
    while not os.path.exists(port_file):
        if sink.poll() is not None or time.monotonic() > deadline:
            fail("the SMTP server did not start: " + open(os.path.join(work, "smtp.log")).read()[-400:])
        time.sleep(0.1)
    smtp_port = int(open(port_file).read())

    env = dict(os.environ)
    env.setdefault("FORECOURT_SECRET_FILE", os.path.join(work, "forecourt.secret"))
    if not a.db.startswith("sqlite:"):
        env.setdefault("FORECOURT_DATA_KEY_FILE", os.path.join(work, "forecourt.key"))
    env.update({
        "FORECOURT_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "FORECOURT_SMTP_FROM": "forecourt@example.com",
        "FORECOURT_OUTBOX_CONCURRENCY": str(a.concurrency),
        "FORECOURT_OUTBOX_LEASE_SECS": str(a.lease_secs),
    })

    def fc(*args):
        r = subprocess.run([a.bin, *map(str, args)], capture_output=True, text=True, timeout=600, env=env)
        if r.returncode != 0:
            fail(f"forecourt {' '.join(map(str, args))} exited {r.returncode}: {(r.stderr or r.stdout)[-400:]}")
        return r.stdout

    fc("migrate", "--db", a.db)
    t = time.monotonic()
    fc("outbox", "test-batch", "--db", a.db, "--count", a.count, "--to", "test@example.com")
    print(f"enqueued {a.count} emails in {time.monotonic() - t:.1f} s", flush=True)

    s = socket.socket(); s.bind(("127.0.0.1", 0)); http_port = s.getsockname()[1]; s.close()
    log = open(os.path.join(work, "serve.log"), "a")

    def start():
        p = subprocess.Popen([a.bin, "serve", "--db", a.db, "--listen", f"127.0.0.1:{http_port}"],
                             stdout=log, stderr=subprocess.STDOUT, env=env)
        CHILDREN.append(p)
        return p

    server = start()
    t_deliver = time.monotonic()
    at_kill = []
    for k in range(1, a.kills + 1):
        target = a.count * k // (a.kills + 1)
        while count_files(maildir) < target:
            if server.poll() is not None:
                fail(f"the server exited with {server.returncode}; see {work}/serve.log")
            if time.monotonic() - t_deliver > a.timeout:
                fail(f"only {count_files(maildir)} of {target} emails arrived before the kill")
            time.sleep(0.005)
        server.send_signal(signal.SIGKILL)
        server.wait()
        at_kill.append(count_files(maildir))
        print(f"kill {k}: SIGKILL with {at_kill[-1]} of {a.count} emails in the mailbox", flush=True)
        server = start()

    def distinct():
        return len({mid for mid, _ in read_mailbox(maildir)})

    while distinct() < a.count:
        if server.poll() is not None:
            fail(f"the server exited with {server.returncode}; see {work}/serve.log")
        if time.monotonic() - t_deliver > a.timeout:
            fail(f"only {distinct()} of {a.count} distinct emails arrived in {a.timeout} s")
        time.sleep(0.1)
    delivered_in = time.monotonic() - t_deliver
    time.sleep(a.lease_secs + 1)  # a resend still due would come now
    server.send_signal(signal.SIGKILL)
    server.wait()

    mail = read_mailbox(maildir)
    by_id = {}
    for mid, subject in mail:
        by_id.setdefault(mid, []).append(subject)
    pattern = re.compile(r"^<[0-9a-f-]{36}@forecourt>$")
    bad = [m for m in by_id if not pattern.match(m)]
    if bad:
        fail(f"Message-IDs not of the form <id@forecourt>: {bad[:3]}")
    if len(by_id) != a.count:
        fail(f"{len(by_id)} distinct Message-IDs, expected {a.count}")
    subjects = {}
    for mid, subs in by_id.items():
        if len(set(subs)) != 1:
            fail(f"{mid} carries different subjects: {sorted(set(subs))}")
        subjects.setdefault(subs[0], set()).add(mid)
    expected = {f"Forecourt test {i}/{a.count}" for i in range(1, a.count + 1)}
    if set(subjects) != expected:
        fail(f"missing emails: {sorted(expected - set(subjects))[:5]}, unexpected: {sorted(set(subjects) - expected)[:5]}")
    two_ids = [s for s, ids in subjects.items() if len(ids) > 1]
    if two_ids:
        fail(f"an email arrived under two Message-IDs: {two_ids[:3]}")
    extra = len(mail) - len(by_id)
    twice = sum(1 for subs in by_id.values() if len(subs) > 1)
    bound = a.concurrency * a.kills
    if extra > bound:
        fail(f"{extra} extra copies, more than the worker's concurrency per kill ({bound})")
    status = fc("outbox", "status", "--db", a.db)
    email_lines = sorted(l for l in status.splitlines() if l.startswith("email "))
    if email_lines != [f"email sent: {a.count}"]:
        fail(f"outbox status: {email_lines}")
    print(f"mailbox: {len(mail)} messages, {len(by_id)} distinct Message-IDs, "
          f"{twice} arrived twice with the same Message-ID (bound {bound}); "
          f"delivered in {delivered_in:.1f} s with {a.kills} kill(s); run {time.monotonic() - t0:.1f} s", flush=True)
    stop_children()
    shutil.rmtree(work, ignore_errors=True)  # kept on failure, for its logs and mailbox
    print("ok")


if __name__ == "__main__":
    main()
