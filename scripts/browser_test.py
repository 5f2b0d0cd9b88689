#!/usr/bin/env python3
"""Browser end-to-end tests of the staff console (/) and the member portal (/m/).

Usage: browser_test.py --bin PATH/TO/forecourt [--db URL] [--artifacts DIR]
                       [--chromedriver PATH] [--chromium PATH] [--timeout SECONDS]
  URL is sqlite://FILE (a fresh file) or postgres://... (an empty database); by default
  a fresh SQLite file in a temporary directory. Screenshots NN-<name>.png go to DIR
  (default target/browser-artifacts under the repository), and on a failure also
  failure-<step>.png, failure-<step>.html and the server's log.

Prepares a small simulated network with the binary's CLI (3 stations, 300 customers,
60 days), adds an admin, a station manager and a cashier of one station, starts
`forecourt serve` and chromedriver on free loopback ports, creates a customer with a
known phone and a member card with a PIN through the JSON API, then drives a headless
Chromium through the W3C WebDriver protocol (standard library only):

  login and dashboard (station manager)   find a customer by phone in one search
  issue and recharge a card               change a loyalty rule (admin)
  cashier: no admin actions, masked phone member portal on a 390 px screen
  a member's suggestion and My tickets    a staff step seen by the member
  a survey answered by its link, without signing in (390 px)

Each step prints `ok  <step>` or `FAIL <step>: <why>`; the first failure ends the run
with exit status 1. The server, chromedriver and the temporary directory are always
removed, also on Ctrl-C. Needs `chromium` and `chromedriver` (Debian packages chromium
and chromium-driver; scripts/test installs them when missing)."""
import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The W3C name of an element reference in WebDriver answers.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

PORTAL_WIDTH, PORTAL_HEIGHT = 390, 844
PORTAL_PIN = "246810"
PASSWORDS = {
    "e2e_admin": "E2e-admin-pass-2026",
    "e2e_manager": "E2e-manager-pass-2026",
    "e2e_cashier": "E2e-cashier-pass-2026",
}


class WebDriverError(Exception):
    """An error answered by chromedriver, or a wait that timed out."""

    def __init__(self, message, error=""):
        super().__init__(message)
        self.error = error


class Browser:
    """A minimal W3C WebDriver client for one Chromium session.

    Element methods take a CSS selector and find the element again on every call, so a
    page load between two calls never leaves a stale reference behind. Every wait polls
    until its timeout and then raises a WebDriverError that names the selector and the
    current URL."""

    def __init__(self, driver_url, base_url, chromium, profile_dir, timeout=10.0):
        self.driver = driver_url.rstrip("/")
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        caps = {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    # A browser set to Chinese, as the console's users have: the
                    # console picks its language from Accept-Language.
                    "--lang=zh-CN",
                    f"--user-data-dir={profile_dir}",
                ],
                "prefs": {"intl.accept_languages": "zh-CN,zh"},
            },
        }
        value = self._request("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = value["sessionId"]
        self._s("POST", "/timeouts", {"pageLoad": 60000, "script": 10000, "implicit": 0})

    # --- protocol --------------------------------------------------------------------
    def _request(self, method, path, body=None):
        data = None
        if body is not None or method == "POST":
            data = json.dumps(body if body is not None else {}).encode()
        req = urllib.request.Request(self.driver + path, data=data, method=method)
        req.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                value = json.loads(raw)["value"]
                error, message = value.get("error", ""), value.get("message", "")
            except Exception:
                error, message = f"HTTP {e.code}", raw.decode(errors="replace")
            first = (message or "").strip().splitlines()[0] if message else ""
            raise WebDriverError(f"{method} {path}: {error}: {first}", error) from None
        return json.loads(raw)["value"] if raw else None

    def _s(self, method, path, body=None):
        return self._request(method, f"/session/{self.session}{path}", body)

    def quit(self):
        self._request("DELETE", f"/session/{self.session}")

    # --- waits -----------------------------------------------------------------------
    def wait_until(self, what, fn, timeout=None):
        """Calls fn() until it returns something truthy; returns that."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        last = None
        while True:
            try:
                value = fn()
                if value:
                    return value
            except WebDriverError as e:
                last = e
            if time.monotonic() >= deadline:
                why = f" (last error: {last})" if last else ""
                raise WebDriverError(f"timed out waiting for {what} at {self.safe_url()}{why}")
            time.sleep(0.1)

    # --- navigation ------------------------------------------------------------------
    def go(self, path):
        self._s("POST", "/url", {"url": self.base + path})

    @property
    def url(self):
        return self._s("GET", "/url")

    def safe_url(self):
        try:
            return self.url
        except Exception:
            return "(unknown URL)"

    @property
    def path(self):
        return urllib.parse.urlsplit(self.url).path

    def query(self):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.url).query)

    def wait_path(self, pattern, timeout=None):
        """Waits until the URL's path matches the regular expression (whole path)."""
        rx = re.compile(pattern)
        return self.wait_until(f"a URL path matching {pattern!r}", lambda: rx.fullmatch(self.path), timeout)

    def source(self):
        return self._s("GET", "/source")

    # --- elements --------------------------------------------------------------------
    def find_all(self, css):
        found = self._s("POST", "/elements", {"using": "css selector", "value": css})
        return [e[ELEMENT] for e in found]

    def find(self, css):
        """The first element that matches, or None (no waiting)."""
        found = self.find_all(css)
        return found[0] if found else None

    def exists(self, css):
        return self.find(css) is not None

    def wait(self, css, timeout=None):
        """Waits until an element matches; returns its reference."""
        return self.wait_until(f"element {css!r}", lambda: self.find(css), timeout)

    def _on(self, css, what, action, timeout=None):
        """Finds css and applies action(element), retrying stale or not yet
        interactable elements until the timeout."""

        def attempt():
            el = self.find(css)
            if el is None:
                return None
            return (action(el),)

        return self.wait_until(f"{what} {css!r}", attempt, timeout)[0]

    def click(self, css, timeout=None):
        self._on(css, "a clickable element", lambda el: self._s("POST", f"/element/{el}/click"), timeout)

    def fill(self, css, text, timeout=None):
        """Clears an input and types text into it."""

        def act(el):
            self._s("POST", f"/element/{el}/clear")
            self._s("POST", f"/element/{el}/value", {"text": text})

        self._on(css, "an input", act, timeout)

    def text(self, css, timeout=None):
        return self._on(css, "element", lambda el: self._s("GET", f"/element/{el}/text"), timeout)

    def attr(self, css, name, timeout=None):
        return self._on(css, "element", lambda el: self._s("GET", f"/element/{el}/attribute/{name}"), timeout)

    def prop(self, css, name, timeout=None):
        return self._on(css, "element", lambda el: self._s("GET", f"/element/{el}/property/{name}"), timeout)

    def script(self, js, *args):
        return self._s("POST", "/execute/sync", {"script": js, "args": list(args)})

    def set_window(self, width, height):
        self._s("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path):
        png = base64.b64decode(self._s("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)


class StepFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise AssertionError(message)


class Run:
    """Named steps, numbered screenshots, and what to keep when a step fails."""

    def __init__(self, artifacts):
        self.artifacts = artifacts
        self.browser = None
        self.shots = 0
        self.server_log = None
        self.started = time.monotonic()

    def shot(self, name):
        self.shots += 1
        path = os.path.join(self.artifacts, f"{self.shots:02d}-{name}.png")
        self.browser.screenshot(path)
        return path

    @contextlib.contextmanager
    def step(self, name):
        t0 = time.monotonic()
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            why = str(e) or type(e).__name__
            if self.browser is not None and " at http" not in why:
                why += f" (at {self.browser.safe_url()})"
            print(f"FAIL {name}: {why}", flush=True)
            self.keep_evidence(name)
            raise StepFailed(name) from None
        print(f"ok  {name} ({time.monotonic() - t0:.1f} s)", flush=True)

    def keep_evidence(self, name):
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        kept = []
        if self.browser is not None:
            try:
                path = os.path.join(self.artifacts, f"failure-{slug}.png")
                self.browser.screenshot(path)
                kept.append(path)
                path = os.path.join(self.artifacts, f"failure-{slug}.html")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(self.browser.source())
                kept.append(path)
            except Exception as e:
                print(f"     (could not save the page: {e})")
        if self.server_log and os.path.exists(self.server_log):
            path = os.path.join(self.artifacts, "failure-server.log")
            shutil.copyfile(self.server_log, path)
            kept.append(path)
        if kept:
            print("     kept: " + ", ".join(shown(p) for p in kept))


def yuan(fen):
    """Fen as the pages write them: ¥1,234.56."""
    return f"{'-' if fen < 0 else ''}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def shown(path):
    """A path as short as it reads well: relative when under the current directory."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def which(explicit, name, fallback):
    for candidate in (explicit, shutil.which(name), fallback):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class Processes:
    """Child processes, each in its own process group, stopped on exit."""

    def __init__(self):
        self.procs = []

    def start(self, args, log_path, env=None):
        log = open(log_path, "wb")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def stop_all(self):
        """Stops each process group (chromedriver's holds the browser too) and waits
        until none of its processes is left."""
        for p in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and group_alive(p):
                time.sleep(0.05)
            if group_alive(p):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)


def group_alive(p):
    """Whether a process of p's group is still running (p itself reaped if it ended)."""
    p.poll()
    try:
        os.killpg(p.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Only zombies left (e.g. the browser's, reparented and not yet reaped) count as gone.
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == p.pid and fields[0] != "Z":
            return True
    return False


def wait_http(url, proc, what, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = open(log_path, errors="replace").read()[-600:]
            raise RuntimeError(f"{what} exited with status {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} within {timeout} s (log {log_path})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="the forecourt binary")
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    ap.add_argument("--artifacts", default=os.path.join(ROOT, "target", "browser-artifacts"))
    ap.add_argument("--chromedriver", help="chromedriver binary (default: from PATH)")
    ap.add_argument("--chromium", help="Chromium binary (default: from PATH)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds each wait polls")
    a = ap.parse_args()

    binary = os.path.abspath(a.bin)
    if not os.access(binary, os.X_OK):
        sys.exit(f"error: {a.bin} is not an executable (build it with cargo build --release)")
    chromedriver = which(a.chromedriver, "chromedriver", "/usr/bin/chromedriver")
    chromium = which(a.chromium, "chromium", "/usr/bin/chromium")
    if not chromedriver or not chromium:
        sys.exit("error: chromium and chromedriver are needed: "
                 "apt-get install -y chromium chromium-driver (scripts/test does it)")

    os.makedirs(a.artifacts, exist_ok=True)
    for name in os.listdir(a.artifacts):  # only what an earlier run of this script left
        if re.fullmatch(r"(\d\d-.+\.png|failure-.+\.(png|html|log))", name):
            os.remove(os.path.join(a.artifacts, name))

    # SIGTERM ends the run like Ctrl-C does, through the finally below.
    def on_term(*_):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)

    work = tempfile.mkdtemp(prefix="fc-browser-")
    procs = Processes()
    run = Run(a.artifacts)
    status = 0
    try:
        scenarios(a, binary, chromedriver, chromium, work, procs, run)
        print(f"ok  all browser steps ({time.monotonic() - run.started:.1f} s); screenshots in {shown(a.artifacts)}")
    except StepFailed:
        status = 1
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        status = 130
    finally:
        if run.browser is not None:
            with contextlib.suppress(Exception):
                run.browser.quit()
        procs.stop_all()
        for _ in range(20):
            shutil.rmtree(work, ignore_errors=True)
            if not os.path.exists(work):
                break
            time.sleep(0.1)
    sys.exit(status)


def scenarios(a, binary, chromedriver, chromium, work, procs, run):
    db = a.db or f"sqlite://{os.path.join(work, 'browser.db')}"
    env = dict(os.environ)
    # Keys and the server secret live in the temp dir, never in the caller's directory.
    env["FORECOURT_SECRET_FILE"] = os.path.join(work, "forecourt.secret")
    env["FORECOURT_DATA_KEY_FILE"] = os.path.join(work, "forecourt.keys")
    env.pop("FORECOURT_SECRET", None)
    env.pop("FORECOURT_DATA_KEY", None)

    def fc(*args, stdin=None):
        r = subprocess.run([binary, *map(str, args)], input=stdin, capture_output=True, text=True, env=env, timeout=900)
        if r.returncode != 0:
            out = (r.stderr or r.stdout).strip()
            raise RuntimeError(f"forecourt {' '.join(map(str, args[:2]))} exited {r.returncode}: {out[-600:]}")
        return r.stdout

    state = {}
    with run.step("prepare data with the CLI"):
        fc("simulate", "--db", db, "--stations", 3, "--customers", 300, "--days", 60, "--seed", 7)
        codes = [line.split("\t")[0] for line in fc("stations", "list", "--db", db).splitlines() if line.strip()]
        check(codes, "`forecourt stations list` printed no station after simulate")
        station = state["station"] = sorted(codes)[0]
        users = [("e2e_admin", "admin", None), ("e2e_manager", "station_manager", f"station:{station}"),
                 ("e2e_cashier", "cashier", f"station:{station}")]
        for username, role, scope in users:
            args = ["users", "add", "--db", db, "--username", username, "--role", role, "--password-stdin"]
            if scope:
                args += ["--scope", scope]
            fc(*args, stdin=PASSWORDS[username] + "\n")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with run.step("start the server and chromedriver"):
        run.server_log = os.path.join(work, "serve.log")
        srv = procs.start([binary, "serve", "--db", db, "--listen", f"127.0.0.1:{port}"], run.server_log, env)
        dport = free_port()
        driver_log = os.path.join(work, "chromedriver.log")
        drv = procs.start([chromedriver, f"--port={dport}"], driver_log)
        wait_http(base + "/healthz", srv, "forecourt serve", run.server_log)
        wait_http(f"http://127.0.0.1:{dport}/status", drv, "chromedriver", driver_log)
        run.browser = Browser(f"http://127.0.0.1:{dport}", base, chromium, os.path.join(work, "profile"), a.timeout)

    def api(method, path, body=None, token=None):
        req = urllib.request.Request(base + path, None if body is None else json.dumps(body).encode(), method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except Exception:
                return e.code, raw.decode(errors="replace")

    with run.step("create fixtures through the API"):
        st, r = api("POST", "/api/v1/auth/login", {"username": "e2e_manager", "password": PASSWORDS["e2e_manager"]})
        check(st == 200, f"login of e2e_manager answered {st} {r}")
        token = r["token"]
        # A phone no simulated customer has, so that the search finds exactly one.
        for n in range(100):
            phone = f"139{(20260000 + n * 7919) % 100000000:08d}"
            st, r = api("GET", f"/api/v1/customers?q={phone}", token=token)
            check(st == 200, f"GET /api/v1/customers?q={phone} answered {st} {r}")
            if not r.get("customers"):
                break
        body = {"kind": "individual", "name": "浏览器测试", "phone": phone, "home_station": state["station"]}
        st, r = api("POST", "/api/v1/customers", body, token)
        check(st == 201, f"POST /api/v1/customers answered {st} {r}")
        state["phone"], state["customer_id"] = phone, r["id"]
        st, r = api("POST", "/api/v1/cards", {"customer_id": r["id"], "kind": "personal", "pin": PORTAL_PIN}, token)
        check(st == 201, f"POST /api/v1/cards answered {st} {r}")
        state["member_card"] = re.sub(r"\s", "", str(r["card_no"]))

    b = run.browser

    def login(username):
        b.go("/login")
        b.fill("#username", username)
        b.fill("#password", PASSWORDS[username])
        b.click("#login-submit")
        try:
            b.wait_path("/")
        except WebDriverError:
            notice = b.text(".notice.error", timeout=0) if b.exists(".notice.error") else ""
            raise AssertionError(f"signing in as {username} stayed on {b.path}" + (f"; the page says {notice!r}" if notice else ""))

    def logout():
        b.click("#logout")
        b.wait_path("/login")

    def find_customer():
        b.go("/customers")
        b.fill("#customer-q", state["phone"])
        b.click("#customer-search")
        b.wait_path(r"/customers/[^/]+")
        b.wait("#profile-head")

    with run.step("login and dashboard (station manager)"):
        b.go("/login")
        b.wait("#username")
        login("e2e_manager")
        for css in ["figure#chart-sales svg.chart", "#chart-products", "#chart-share", "#chart-new", "#chart-tiers"]:
            b.wait(css)
        net = b.text("#kpi-net").strip()
        check(net.startswith("¥"), f"#kpi-net reads {net!r}, not an amount in ¥")
        run.shot("dashboard")
        check(b.exists("html[lang='zh-CN']"), f"the page is not Chinese by default: html lang={b.attr('html', 'lang')!r}")
        b.click("#lang-switch")
        b.wait("html[lang='en']")
        b.wait_path("/")
        b.click("#lang-switch")
        b.wait("html[lang='zh-CN']")

    with run.step("find a customer by phone in one search"):
        find_customer()
        check(b.path == f"/customers/{state['customer_id']}",
              f"the search opened {b.path}, not /customers/{state['customer_id']}")
        phone_text = b.text("#profile-phone")
        check(re.sub(r"\D", "", phone_text) == state["phone"],
              f"#profile-phone reads {phone_text!r}; the station manager should see {state['phone']}")
        b.wait("#profile-cards")
        b.wait("#profile-points")
        run.shot("profile")

    with run.step("issue and recharge a card"):
        b.click("details:has(#issue-card-form) > summary")
        b.click("select#issue-kind option[value='personal']")
        kind = b.prop("select#issue-kind", "value")
        check(kind == "personal", f"select#issue-kind holds {kind!r} after choosing personal")
        b.click("#issue-card")
        b.wait_path(r"/cards/[^/]+")
        check(b.query().get("done") == ["issued"], f"after issuing, the URL is {b.url} (no done=issued)")
        card_no = b.text("#card-number").strip()
        check(card_no, "#card-number is empty")
        b.wait(".notice.ok")
        b.fill("#recharge-amount", "500")
        b.click("#recharge-submit")
        b.wait_until("the URL to say done=recharged", lambda: b.query().get("done") == ["recharged"])
        b.wait(".notice.ok")
        balance = b.text("#card-balance")
        # The network may give a recharge bonus: the card holds 500.00 paid plus the
        # bonus the API reports, and the page shows that balance.
        st, k = api("GET", "/api/v1/cards/" + urllib.parse.quote(re.sub(r"\s", "", card_no)), token=token)
        check(st == 200, f"GET /api/v1/cards/{card_no} answered {st} {k}")
        check(k["paid_fen"] == 50000, f"the API says the card holds {k['paid_fen']} fen paid, not 50000")
        check("500.00" in b.text("#card-head"), "#card-head does not show the 500.00 paid")
        want = yuan(k["balance_fen"])
        check(want in balance, f"#card-balance reads {balance!r} after a recharge of 500 on a new card; "
              f"the API says {want} ({k['paid_fen']} paid + {k['bonus_fen']} bonus)")
        run.shot("card")
        b.fill("#recharge-amount", "abc")
        b.click("#recharge-submit")
        b.wait(".notice.error")
        b.go("/cards/" + urllib.parse.quote(re.sub(r"\s", "", card_no)))
        after = b.text("#card-balance")
        check(after == balance, f"#card-balance reads {after!r} after a refused amount, was {balance!r}")

    with run.step("change a loyalty rule (admin)"):
        logout()
        login("e2e_admin")
        b.wait("#admin-menu")
        b.go("/loyalty")
        b.wait("#rules a.rule-link")
        b.click("#rules a.rule-link")
        b.wait_path(r"/loyalty/rules/[^/]+")
        b.wait("form#rule-form")
        b.wait("textarea#rule-json")
        old = b.prop("#rule-name", "value") or ""
        new = old + " E2E"
        b.fill("#rule-name", new)
        b.click("#rule-save")
        b.wait_path("/loyalty")
        b.wait(".notice.ok")
        rules = b.text("#rules")
        check(new in rules, f"#rules does not show the new name {new!r}")
        run.shot("loyalty")
        b.go("/analytics/abc")
        b.wait("svg.chart")
        run.shot("analytics-abc")
        for path, name in [("/admin/users", "admin-users"), ("/admin/audit", "admin-audit")]:
            b.go(path)
            b.wait_path(path)
            b.wait("main h1")
            run.shot(name)

    with run.step("cashier sees no admin actions and masked phones"):
        logout()
        login("e2e_cashier")
        check(not b.exists("#admin-menu"), "the cashier's page has an #admin-menu element")
        for href in ["/admin/users", "/loyalty"]:
            links = b.find_all(f"a[href^='{href}']")
            check(not links, f"the cashier's page links to {href}")
        find_customer()
        phone_text = b.text("#profile-phone")
        check("****" in phone_text, f"#profile-phone reads {phone_text!r} for a cashier, not masked")
        check(state["phone"] not in re.sub(r"\D", "", phone_text), f"#profile-phone shows the full phone to a cashier: {phone_text!r}")
        # The role table gives cashiers IssueCard: the profile offers the issue form.
        check(b.exists("#issue-card-form"), "the cashier's profile has no #issue-card-form, though cashiers may issue cards")
        run.shot("cashier-profile")

    service_desk_scenario(b, run, login, logout, state)
    leaflet_scenario(b, run, login, logout, state, base)

    def width_fits(where):
        width = b.wait_until("document.documentElement.scrollWidth",
                             lambda: b.script("return document.documentElement.scrollWidth;"))
        inner = b.script("return window.innerWidth;")
        check(width <= PORTAL_WIDTH,
              f"{where} is {width} px wide on a {PORTAL_WIDTH} px screen (innerWidth {inner}): it scrolls sideways")

    with run.step("member portal on a 390 px screen"):
        b.set_window(PORTAL_WIDTH, PORTAL_HEIGHT)
        b.go("/m/login")
        b.fill("#portal-card-no", state["member_card"])
        b.fill("#portal-pin", PORTAL_PIN)
        b.click("#portal-card-login")
        b.wait_path("/m/")
        b.wait("main#portal-home")
        b.wait("#portal-balance")
        b.wait("#portal-points")
        width_fits("/m/")
        run.shot("portal-home")
        b.go("/m/stations")
        b.wait_path("/m/stations")
        b.wait("main")
        width_fits("/m/stations")
        run.shot("portal-stations")

    portal_service_desk(run, api, state)


def page_fits(b, where):
    """The page does not scroll sideways on the portal's 390 px screen."""
    width = b.wait_until("document.documentElement.scrollWidth",
                         lambda: b.script("return document.documentElement.scrollWidth;"))
    check(width <= PORTAL_WIDTH, f"{where} is {width} px wide on a {PORTAL_WIDTH} px screen: it scrolls sideways")


def tap(b, css):
    """Clicks an element after scrolling it to the middle of the screen: the portal's
    tab bar is fixed at the bottom, and WebDriver clicks an element that is only just
    in view where the bar would take the click."""
    b.wait(css)
    b.script("document.querySelector(arguments[0]).scrollIntoView({block: 'center'});", css)
    b.click(css)


def portal_service_desk(run, api, state):
    """The member's service desk on a 390 px screen: a member signs in, sends a
    suggestion and sees it in My tickets with its state; a staff step taken through the
    JSON API shows as the new state on reload; the member finds a survey invitation in
    My messages, signs out, opens the survey link (no sign-in: the token is the
    authority) and answers it; the link then says it was answered."""
    b = run.browser
    b.set_window(PORTAL_WIDTH, PORTAL_HEIGHT)
    st, r = api("POST", "/api/v1/auth/login", {"username": "e2e_admin", "password": PASSWORDS["e2e_admin"]})
    check(st == 200, f"login of e2e_admin answered {st} {r}")
    admin = r["token"]
    text = "晚高峰排队太久，建议多开一个收银台。"

    with run.step("a member sends a suggestion and sees it in My tickets"):
        b.go("/m/tickets/new")
        if b.path == "/m/login":
            b.fill("#portal-card-no", state["member_card"])
            b.fill("#portal-pin", PORTAL_PIN)
            tap(b, "#portal-card-login")
            b.wait_path("/m/tickets/new")
        b.wait("form#portal-ticket-form")
        b.click("select#portal-ticket-kind option[value='suggestion']")
        b.click("select#portal-ticket-category option[value='waiting']")
        station = b.prop("select#portal-ticket-station", "value")
        check(station == state["station"],
              f"the station picker holds {station!r}, not the member's home station {state['station']}")
        b.fill("#portal-ticket-description", text)
        page_fits(b, "/m/tickets/new")
        run.shot("portal-ticket-new")
        tap(b, "#portal-ticket-submit")
        b.wait_path(r"/m/tickets/(?!new$)[^/]+")
        ticket_id = b.path.rsplit("/", 1)[1]
        b.wait(".notice.ok")
        shown_state = b.text("#portal-ticket-state").strip()
        check(shown_state == "受理中", f"#portal-ticket-state reads {shown_state!r} for a new ticket, not 受理中")
        st, t = api("GET", f"/api/v1/tickets/{ticket_id}", token=admin)
        check(st == 200, f"GET /api/v1/tickets/{ticket_id} answered {st} {t}")
        check(t["channel"] == "portal" and t["customer_id"] == state["customer_id"] and t["kind"] == "suggestion",
              f"the API shows the ticket as {t['kind']}/{t['channel']} of {t['customer_id']}")
        b.go("/m/tickets")
        b.wait("#portal-tickets a.ticket-link")
        row = b.text("#portal-tickets li.ticket")
        check("建议" in row and "受理中" in row, f"My tickets shows {row!r}: no 建议 / 受理中")
        page_fits(b, "/m/tickets")
        run.shot("portal-my-tickets")
        state["ticket_id"] = ticket_id

    with run.step("a staff step shows as the new state on reload"):
        st, t = api("POST", f"/api/v1/tickets/{state['ticket_id']}/events",
                    {"action": "investigate", "note": "内部备注：查看排班"}, admin)
        check(st == 200 and t["state"] == "investigating", f"the investigate step answered {st} {t}")
        b.go(f"/m/tickets/{state['ticket_id']}")
        b.wait_until("#portal-ticket-state to read 处理中", lambda: b.text("#portal-ticket-state").strip() == "处理中")
        history = b.text("#portal-ticket-history")
        check("开始调查" in history and "客服" in history, f"the history reads {history!r}")
        check("内部备注" not in b.source() and "e2e_admin" not in b.source(),
              "the member's page shows a staff note or a staff username")
        page_fits(b, "/m/tickets/{id}")
        run.shot("portal-ticket-progress")

    with run.step("partner offers: a member claims one, the partner redeems it"):
        import datetime
        today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()
        st, r = api("POST", "/api/v1/partners", {"name": "洁车坊", "category": "car_wash"}, admin)
        check(st == 201 and r.get("api_key"), f"POST /api/v1/partners answered {st} {r}")
        partner_id, partner_key = r["id"], r["api_key"]
        st, r = api("POST", f"/api/v1/partners/{partner_id}/offers",
                    {"title": "洗车8折", "description": "持卡会员洗车享8折",
                     "valid_from": str(today - datetime.timedelta(days=1)),
                     "valid_until": str(today + datetime.timedelta(days=30))}, admin)
        check(st == 201, f"POST /api/v1/partners/{{id}}/offers answered {st} {r}")
        b.go("/m/")
        tap(b, "#portal-offers-link")
        b.wait_path("/m/offers")
        check("洗车8折" in b.text("#portal-offers"), f"#portal-offers reads {b.text('#portal-offers')!r}")
        page_fits(b, "/m/offers")
        tap(b, "#portal-offers button.claim")
        b.wait_until("the URL to say done=claimed", lambda: b.query().get("done") == ["claimed"])
        code = b.text("#portal-claims code.redemption-code").replace(" ", "").strip()
        check(len(code) == 8, f"the member's code reads {code!r}")
        page_fits(b, "/m/offers claimed")
        run.shot("portal-offers")
        st, r = api("POST", "/api/v1/partner/redemptions", {"code": code}, partner_key)
        check(st == 200, f"the partner's redemption answered {st} {r}")
        st, r = api("POST", "/api/v1/partner/redemptions", {"code": code}, partner_key)
        check(st == 409, f"a second redemption answered {st} {r}, not 409")
        b.go("/m/offers")
        check("已使用" in b.text("#portal-claims"), f"#portal-claims reads {b.text('#portal-claims')!r} after the redemption")

    with run.step("a survey answered by its link without signing in"):
        questions = [
            {"kind": "nps", "text": "您有多大可能向朋友推荐我们？"},
            {"kind": "rating", "text": "您对本次服务满意吗？"},
            {"kind": "choice", "text": "等候时间", "options": ["短", "长"]},
            {"kind": "text", "text": "还有什么想说的？"},
        ]
        st, r = api("POST", "/api/v1/surveys", {"name": "加油体验", "questions": questions}, admin)
        check(st == 201, f"POST /api/v1/surveys answered {st} {r}")
        survey = r["id"]
        st, r = api("POST", f"/api/v1/surveys/{survey}/invitations", {"customer_ids": [state["customer_id"]]}, admin)
        check(st == 201 and "token" in r["invitations"][0], f"the invitation answered {st} {r}")
        token = r["invitations"][0]["token"]
        b.go("/m/")
        unread = b.text("#portal-unread").strip()
        check(unread == "1", f"#portal-unread reads {unread!r}, not 1 after one invitation")
        tap(b, "#portal-messages-link")
        b.wait_path("/m/messages")
        tap(b, "#portal-messages a.message-link")
        b.wait_path(r"/m/messages/[^/]+")
        link = b.attr("a.survey-link", "href")
        check(link.endswith(f"/s/{token}"), f"the message's survey button leads to {link!r}, not the invitation")
        run.shot("portal-message")
        tap(b, "#portal-logout")
        b.wait_path("/m/login")
        b.go(f"/s/{token}")
        b.wait("form#survey-form")
        check(not b.exists("#portal-logout"), "the survey page shows a signed-in member's bar")
        page_fits(b, "/s/{token}")
        run.shot("survey")
        tap(b, "#survey-q0 input[value='9'] + span")
        tap(b, "#survey-q1 input[value='5'] + span")
        tap(b, "#survey-q2 input[value='短'] + span")
        b.fill("#survey-q3 textarea", "收银很快")
        picked = b.script("return document.querySelector('#survey-q0 input:checked').value;")
        check(picked == "9", f"the NPS row holds {picked!r} after picking 9")
        tap(b, "#survey-submit")
        b.wait("main#survey-done .notice.ok")
        check("谢谢" in b.text("main#survey-done"), "the survey's thank-you page does not thank")
        page_fits(b, "/s/{token} answered")
        run.shot("survey-thanks")
        st, r = api("GET", f"/api/v1/surveys/{survey}/results", token=admin)
        check(st == 200 and r["responses"] == 1, f"the results answered {st} {r}")
        b.go(f"/s/{token}")
        b.wait("main#survey-done")
        again = b.text("main#survey-done")
        check("已经提交过了" in again, f"the used link reads {again!r}")


def service_desk_scenario(b, run, login, logout, state):
    """A station manager takes a complaint at the counter for a member found by phone,
    moves it through the workflow (respond, investigate, propose, implement, callback
    with satisfaction) checking the state label after each step, is refused a close
    before the callback with a message, and closes it after."""
    labels = {"respond": "已受理", "investigate": "调查中", "propose": "已制定方案",
              "implement": "实施中", "callback": "回访中", "close": "已关闭"}

    def state_is(want, after):
        b.wait_until(f"#ticket-state to read {want!r} after {after}",
                     lambda: b.text("#ticket-state", timeout=0).strip() == want)

    def do(action):
        b.click(f"#step-{action}")
        b.wait_until(f"the URL to say done={action}", lambda: b.query().get("done") == [action])
        b.wait(".notice.ok")
        state_is(labels[action], action)

    with run.step("service desk: a complaint taken at the counter (station manager)"):
        logout()
        login("e2e_manager")
        b.go("/tickets")
        b.wait("#ticket-queue")
        b.click("#new-ticket")
        b.wait_path("/tickets/new")
        b.click("select#ticket-kind option[value='complaint']")
        b.click("select#ticket-category option[value='fuel_quality']")
        b.click("select#ticket-severity option[value='high']")
        check(b.prop("select#ticket-channel", "value") == "counter", "the channel is not the counter by default")
        b.fill("#ticket-phone", state["phone"])
        b.fill("#ticket-description", "加油后车辆抖动，怀疑油品问题")
        b.click("#new-ticket-submit")
        b.wait_path(r"/tickets/(?!new$)[^/]+")
        check(b.query().get("done") == ["opened"], f"after opening, the URL is {b.url} (no done=opened)")
        state_is("已受理", "opening")
        head = b.text("#ticket-head")
        check("油品质量" in head and "柜台" in head, f"#ticket-head does not show the category and channel: {head!r}")
        check("浏览器测试" in head, f"#ticket-head does not name the member found by phone: {head!r}")
        ticket_path = b.path
        run.shot("ticket-opened")

    with run.step("service desk: the workflow, and no close before the callback"):
        for action in ["respond", "investigate", "propose", "implement"]:
            b.fill("#step-note", f"{labels[action]}：已处理")
            do(action)
        b.click("#step-close")
        b.wait(".notice.error")
        message = b.text(".notice.error")
        check("回访" in message, f"a close before the callback says {message!r}, not that a callback is needed")
        state_is("实施中", "a refused close")
        run.shot("ticket-close-refused")
        b.go(ticket_path)
        b.click("select#callback-csat option[value='4']")
        b.fill("#callback-note", "客户表示满意")
        do("callback")
        history = b.text("#ticket-history")
        check("满意度 4/5" in history and "客户表示满意" in history, f"#ticket-history lacks the callback: {history!r}")
        do("close")
        check(b.exists("#step-reopen"), "a closed ticket offers no reopen")
        check(not b.exists("#step-close"), "a closed ticket still offers close")
        run.shot("ticket-closed")
        b.go("/tickets?state=closed")
        b.wait("#ticket-queue")
        check(b.find_all(f"#ticket-queue a[href='{ticket_path}']"), "the closed ticket is not in the queue filtered by closed")
        run.shot("ticket-queue")

    with run.step("service desk settings and surveys (admin)"):
        logout()
        login("e2e_admin")
        b.go("/admin/service-desk")
        b.wait("#sla-policies")
        b.wait("#station-calendars")
        run.shot("service-desk-settings")
        b.go("/surveys")
        b.fill("#survey-name", "E2E 满意度")
        b.click("select[name='kind_0'] option[value='nps']")
        b.fill("input[name='text_0']", "您有多大可能推荐我们？")
        b.click("select[name='kind_1'] option[value='rating']")
        b.fill("input[name='text_1']", "您对服务满意吗？")
        b.click("#survey-create")
        b.wait_path(r"/surveys/[^/]+")
        b.wait("#survey-overall")
        check(b.text("#survey-n").strip() == "0", f"a new survey shows {b.text('#survey-n')!r} answers")
        run.shot("survey-results")


def leaflet_scenario(b, run, login, logout, state, base):
    """A station manager records a leaflet drop by form (600 leaflets, 300 yuan) and sees
    its funnel page; a customer registered with one of its codes makes it 1 sign-up,
    0.17 % conversion and 300 yuan per new card."""
    with run.step("leaflets: a drop recorded by form and its funnel (station manager)"):
        logout()
        login("e2e_manager")
        b.go("/leaflets")
        b.wait("#leaflet-form")
        b.fill("#leaflet-name", "E2E 小区派发")
        b.script("document.querySelector('#leaflet-date').value = arguments[0];", "2026-11-02")
        b.fill("#leaflet-quantity", "600")
        b.fill("#leaflet-cost", "300")
        b.click("#leaflet-create")
        b.wait_path(r"/leaflets/[^/]+")
        check(b.query().get("done") == ["created"], f"after saving, the URL is {b.url} (no done=created)")
        b.wait("#leaflet-funnel svg.chart")
        check(b.text("#funnel-distributed").strip() == "600", f"#funnel-distributed reads {b.text('#funnel-distributed')!r}")
        check(b.text("#funnel-signed-up").strip() == "0", f"#funnel-signed-up reads {b.text('#funnel-signed-up')!r}")
        funnel_path = b.path
        batch_id = funnel_path.rsplit("/", 1)[1]
        run.shot("leaflet-funnel-new")

    with run.step("leaflets: a member signs up with a leaflet code at the counter"):
        req = urllib.request.Request(base + "/api/v1/auth/login",
                                     json.dumps({"username": "e2e_manager", "password": PASSWORDS["e2e_manager"]}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            token = json.loads(r.read())["token"]
        req = urllib.request.Request(base + f"/api/v1/leaflets/{batch_id}/codes.csv",
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=60) as r:
            lines = r.read().decode().splitlines()
        check(lines[0] == "code,used" and len(lines) == 601, f"codes.csv has {len(lines)} lines, header {lines[0]!r}")
        code = lines[1].split(",")[0]
        b.go("/customers")
        b.wait("#new-customer-form")
        b.fill("#new-customer-form input[name='name']", "传单顾客")
        phone = f"137{(int(time.time()) % 100000000):08d}"
        b.fill("#new-customer-form input[name='phone']", phone)
        b.fill("#new-customer-promo", code.lower())
        b.click("#new-customer-submit")
        b.wait_path(r"/customers/[^/]+")
        b.go(funnel_path)
        b.wait("#leaflet-funnel")
        check(b.text("#funnel-signed-up").strip() == "1", f"#funnel-signed-up reads {b.text('#funnel-signed-up')!r} after a sign-up")
        conversion = b.text("#funnel-conversion").strip()
        check(conversion == "0.17%", f"#funnel-conversion reads {conversion!r}, not 0.17%")
        cost = b.text("#funnel-cost-per-card").strip()
        check(cost == "¥300.00", f"#funnel-cost-per-card reads {cost!r}, not ¥300.00")
        run.shot("leaflet-funnel")


if __name__ == "__main__":
    main()
