#!/usr/bin/env python3
"""A real SMTP server for the outbox tests: aiosmtpd (from PyPI) writing every message
it accepts to a Maildir.

Usage: smtp_sink.py --maildir DIR --port-file FILE [--venv target/smtp-venv]
Run by python3 from anywhere: when aiosmtpd cannot be imported, the script makes the
venv (python3 -m venv, pip install aiosmtpd) if it is missing and runs itself again in
it. It listens on a free loopback port, writes that port to FILE once it accepts
connections, and serves until it is killed. Each accepted message is one file in
DIR/new (the Maildir's own unique names), so a message delivered twice is two files."""
import argparse, os, socket, subprocess, sys, time

AIOSMTPD = "aiosmtpd==1.4.6"


def ensure_venv(venv):
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    probe = subprocess.run([python, "-c", "import aiosmtpd"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", AIOSMTPD], check=True)
    return python


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--venv", default=os.path.join(os.path.dirname(__file__), "..", "target", "smtp-venv"))
    args = ap.parse_args()
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        python = ensure_venv(os.path.abspath(args.venv))
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    controller = Controller(Mailbox(args.maildir), hostname="127.0.0.1", port=port)
    controller.start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, args.port_file)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
