#!/usr/bin/env python3
"""A stand-in for Hermes's auth store code, for hermes-keys tests.

It does what Hermes does to auth.json and shared/nous_auth.json: readers
json.load without a lock; a refresh takes fcntl.flock on auth.lock (and
nous_auth.lock for the shared Nous copy), re-reads, rotates the single-use
pair, and replaces the file with a temp file + fsync + os.replace + dir fsync.

Token values carry a sequence number ("CANARY-codex-access-0042"), so the
caller can tell which pair is newest. A missing provider block means "not
logged in": nothing is written for it, as in Hermes.

Every rotation is appended to --log as "<provider> <n>". If a refresh finds
a pair older than one it already wrote, that is an older pair replacing a
newer one, and it is logged as "REGRESSION ...".

Modes:
  rotate  --rate R --seconds S     rotate openai-codex and nous R times/s
  read                              load once; exit 3 if a token is missing
  rotate-once                       one rotation of each present provider
"""
import argparse, fcntl, json, os, re, sys, tempfile, time

def lock(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    deadline = time.monotonic() + 30
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError("Timed out waiting for auth store lock")
            time.sleep(0.05)

def unlock(fd):
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)

def load(path):
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}

def save(path, data):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".auth_", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(d, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)

SEQ = re.compile(r"-(\d+)$")

def seq(tok):
    m = SEQ.search(tok or "")
    return int(m.group(1)) if m else -1

class Rotator:
    def __init__(self, home, root, log):
        self.home, self.root, self.log = home, root, log
        self.written = {}  # provider -> highest n written

    def note(self, line):
        with open(self.log, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def check(self, prov, n):
        if n < self.written.get(prov, -1):
            self.note("REGRESSION %s found %d after writing %d" % (prov, n, self.written[prov]))

    def rotate_once(self):
        auth = os.path.join(self.home, "auth.json")
        fd = lock(os.path.join(self.home, "auth.lock"))
        try:
            store = load(auth)
            provs = store.get("providers") or {}
            changed = []
            cx = provs.get("openai-codex")
            if isinstance(cx, dict) and isinstance(cx.get("tokens"), dict):
                n = seq(cx["tokens"].get("refresh_token"))
                self.check("openai-codex", n)
                n += 1
                cx["tokens"]["access_token"] = "CANARY-codex-access-%04d" % n
                cx["tokens"]["refresh_token"] = "CANARY-codex-refresh-%04d" % n
                cx["last_refresh"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                changed.append(("openai-codex", n))
            nous = provs.get("nous")
            if isinstance(nous, dict) and nous.get("refresh_token"):
                n = seq(nous.get("refresh_token"))
                self.check("nous", n)
                n += 1
                nous["access_token"] = "CANARY-nous-access-%04d" % n
                nous["refresh_token"] = "CANARY-nous-refresh-%04d" % n
                nous["agent_key"] = nous["access_token"]
                changed.append(("nous", n))
                # Every Nous refresh also writes the shared copy, under its own lock.
                shared_dir = os.environ.get("HERMES_SHARED_AUTH_DIR") or os.path.join(self.root, "shared")
                os.makedirs(shared_dir, exist_ok=True)
                sfd = lock(os.path.join(shared_dir, "nous_auth.lock"))
                try:
                    save(os.path.join(shared_dir, "nous_auth.json"),
                         {"access_token": nous["access_token"], "refresh_token": nous["refresh_token"]})
                finally:
                    unlock(sfd)
            if changed:
                store["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
                save(auth, store)
                for prov, n in changed:
                    self.written[prov] = n
                    self.note("%s %d" % (prov, n))
        finally:
            unlock(fd)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["rotate", "read", "rotate-once"])
    ap.add_argument("--home", default=os.environ.get("HERMES_HOME"))
    ap.add_argument("--root")
    ap.add_argument("--log", default=os.devnull)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    root = a.root or a.home
    if a.mode == "read":
        store = load(os.path.join(a.home, "auth.json"))
        provs = store.get("providers") or {}
        cx = (provs.get("openai-codex") or {}).get("tokens") or {}
        if not cx.get("access_token") or not (provs.get("nous") or {}).get("access_token"):
            print("missing token", file=sys.stderr)
            return 3
        return 0
    r = Rotator(a.home, root, a.log)
    if a.mode == "rotate-once":
        r.rotate_once()
        return 0
    end = time.monotonic() + a.seconds
    period = 1.0 / a.rate
    while time.monotonic() < end:
        r.rotate_once()
        time.sleep(period)
    return 0

if __name__ == "__main__":
    sys.exit(main())
