#!/usr/bin/env python3
"""A stand-in for Hermes's auth store code, for hermes-keys tests.

It does what Hermes does to auth.json and shared/nous_auth.json: readers
json.load without a lock; a refresh takes fcntl.flock on auth.lock (and
nous_auth.lock for the shared Nous copy), re-reads, rotates the single-use
pair, and replaces the file with a temp file + fsync + os.replace + dir fsync.

Profiles: when --home is <root>/profiles/<name> (the root is found from it
unless --root says otherwise), a provider the profile's auth.json lacks is
read from the root's auth.json and rotated there (Hermes's root fallback
with write-through). Locks are taken in Hermes's order: profile, root,
shared.

Token values carry a sequence number ("CANARY-codex-access-0042"); a
rotation keeps each token's prefix and bumps the number, so the caller can
tell which pair is newest. A missing provider block means "not logged in":
nothing is written for it, as in Hermes.

Every rotation is appended to --log as "<store><provider> <n>", where
<store> is "" for the root's auth.json and "<profile>/" for a profile's.
The log is read at start, so a second process (a later run) also knows
the newest pair written. If a refresh finds a pair older than one already
written, an older pair replaced a newer one: it is logged as
"REGRESSION ...".

SIGTERM, SIGINT and SIGHUP are held while a rotation is being written and
logged, so a kill lands between rotations and the log is the truth: the
newest pair logged is the newest pair any file ever held.

Modes:
  rotate  --rate R --seconds S      rotate openai-codex and nous R times/s
  read    [--seconds S] [--shared]  load once (or every --interval for S s);
                                    exit 3 if a token was ever missing (with
                                    --shared, also the shared Nous store's)
  rotate-once                       one rotation of each present provider
  logout  --provider P              remove P's block, as `hermes logout`
                                    (for nous also the shared store)
  env-set --key K --value V         save K=V in <home>/.env as Hermes's
                                    save_env_value does (config set, hermes
                                    model): lines stripped, temp file
                                    .env_*.tmp, fsync, os.replace; no lock
  env-remove --key K                remove K from <home>/.env as
                                    remove_env_value does (auth remove)
  env-dump --out FILE               write {KEY: value} of <home>/.env as
                                    Hermes loads it (python-dotenv when it is
                                    installed, else the plain KEY=VALUE form)
"""
import argparse, fcntl, json, os, re, signal, sys, tempfile, time

PROVIDERS = ("openai-codex", "nous")
HELD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

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

def bump(tok, n, default):
    """tok with its sequence number replaced by n (default's prefix if it has none)."""
    m = SEQ.search(tok or "")
    return "%s%04d" % (tok[:m.start(1)] if m else default, n)

def root_of(home):
    parent = os.path.dirname(os.path.abspath(home))
    if os.path.basename(parent) == "profiles":
        return os.path.dirname(parent)
    return home

def shared_dir(root):
    return os.environ.get("HERMES_SHARED_AUTH_DIR") or os.path.join(root, "shared")

class Rotator:
    def __init__(self, home, root, log):
        self.home, self.root, self.log = home, root, log
        self.store = "" if os.path.abspath(home) == os.path.abspath(root) else os.path.basename(os.path.abspath(home)) + "/"
        self.written = {}  # "<store><provider>" -> highest n written
        try:
            with open(log) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[1].isdigit():
                        self.written[parts[0]] = max(self.written.get(parts[0], -1), int(parts[1]))
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            pass

    def note(self, line):
        with open(self.log, "a") as f:
            f.write(line + "\n")
            f.flush()
            try:
                os.fsync(f.fileno())
            except OSError:
                pass  # /dev/null

    def check(self, name, n):
        if n < self.written.get(name, -1):
            self.note("REGRESSION %s found %d after writing %d" % (name, n, self.written[name]))

    def rotate_once(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
        try:
            self._rotate_once()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)

    def _rotate_once(self):
        homes = [(self.store, self.home)]
        if self.store:
            homes.append(("", self.root))
        fds = []
        try:
            stores = []
            for name, home in homes:  # profile, then root
                fds.append(lock(os.path.join(home, "auth.lock")))
                stores.append((name, os.path.join(home, "auth.json")))
            docs = [load(p) for _, p in stores]
            changed = [[] for _ in stores]
            shared = None
            for prov in PROVIDERS:
                # The profile's own block, else the root's (write-through).
                for i, doc in enumerate(docs):
                    blk = (doc.get("providers") or {}).get(prov)
                    if isinstance(blk, dict):
                        break
                else:
                    continue
                name = stores[i][0] + prov
                if prov == "openai-codex" and isinstance(blk.get("tokens"), dict):
                    t = blk["tokens"]
                    n = seq(t.get("refresh_token"))
                    self.check(name, n)
                    n += 1
                    t["access_token"] = bump(t.get("access_token"), n, "CANARY-codex-access-")
                    t["refresh_token"] = bump(t.get("refresh_token"), n, "CANARY-codex-refresh-")
                    blk["last_refresh"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    changed[i].append((name, n))
                elif prov == "nous" and blk.get("refresh_token"):
                    n = seq(blk.get("refresh_token"))
                    self.check(name, n)
                    n += 1
                    blk["access_token"] = bump(blk.get("access_token"), n, "CANARY-nous-access-")
                    blk["refresh_token"] = bump(blk.get("refresh_token"), n, "CANARY-nous-refresh-")
                    blk["agent_key"] = blk["access_token"]
                    changed[i].append((name, n))
                    shared = {"access_token": blk["access_token"], "refresh_token": blk["refresh_token"]}
            if shared is not None:
                # Every Nous refresh also writes the shared copy, under its own lock.
                sd = shared_dir(self.root)
                os.makedirs(sd, exist_ok=True)
                sfd = lock(os.path.join(sd, "nous_auth.lock"))
                try:
                    save(os.path.join(sd, "nous_auth.json"), shared)
                finally:
                    unlock(sfd)
            for (name, path), doc, ch in zip(stores, docs, changed):
                if ch:
                    doc["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
                    save(path, doc)
                    for prov, n in ch:
                        self.written[prov] = n
                        self.note("%s %d" % (prov, n))
        finally:
            for fd in reversed(fds):
                unlock(fd)

def find_tokens(home, root, shared):
    """The tokens Hermes would use: the profile's block, else the root's."""
    docs = [load(os.path.join(home, "auth.json"))]
    if os.path.abspath(home) != os.path.abspath(root):
        docs.append(load(os.path.join(root, "auth.json")))
    def block(prov):
        for d in docs:
            b = (d.get("providers") or {}).get(prov)
            if isinstance(b, dict):
                return b
        return {}
    missing = []
    if not (block("openai-codex").get("tokens") or {}).get("access_token"):
        missing.append("openai-codex")
    if not block("nous").get("access_token"):
        missing.append("nous")
    elif shared and not load(os.path.join(shared_dir(root), "nous_auth.json")).get("refresh_token"):
        missing.append("shared nous")
    return missing

def logout(home, root, prov):
    fd = lock(os.path.join(home, "auth.lock"))
    try:
        path = os.path.join(home, "auth.json")
        store = load(path)
        (store.get("providers") or {}).pop(prov, None)
        if store.get("active_provider") == prov:
            store["active_provider"] = None
        save(path, store)
        if prov == "nous":
            sd = shared_dir(root)
            sfd = lock(os.path.join(sd, "nous_auth.lock"))
            try:
                try:
                    os.remove(os.path.join(sd, "nous_auth.json"))
                except FileNotFoundError:
                    pass
            finally:
                unlock(sfd)
    finally:
        unlock(fd)

def _env_defines(line, key):
    st = line.strip()
    if st.startswith("export "):
        st = st[7:].lstrip()
    return st.startswith(key + "=")

def _env_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        # _sanitize_env_lines: blank lines, comments and bindings stripped
        return [l.rstrip("\r\n").strip() + "\n" for l in f.readlines()]

def _env_write(path, lines):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".env_", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(lines)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

def env_set(home, key, value):
    path = os.path.join(home, ".env")
    lines = _env_lines(path)
    for i, l in enumerate(lines):
        if _env_defines(l, key):
            lines[i] = "%s=%s\n" % (key, value)
            break
    else:
        lines.append("%s=%s\n" % (key, value))
    _env_write(path, lines)

def env_remove(home, key):
    path = os.path.join(home, ".env")
    lines = _env_lines(path)
    kept = [l for l in lines if not _env_defines(l, key)]
    if len(kept) < len(lines):
        _env_write(path, kept)

def env_dump(home, out):
    path = os.path.join(home, ".env")
    vals = {}
    try:
        from dotenv import dotenv_values
        vals = dict(dotenv_values(path)) if os.path.exists(path) else {}
    except ImportError:
        for l in _env_lines(path):
            l = l.strip()
            if l and not l.startswith("#") and "=" in l:
                if l.startswith("export "):
                    l = l[7:]
                k, _, v = l.partition("=")
                vals[k.strip()] = v.strip().strip("'\"")
    with open(out, "w") as f:
        json.dump(vals, f)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["rotate", "read", "rotate-once", "logout", "env-set", "env-remove", "env-dump"])
    ap.add_argument("--key")
    ap.add_argument("--value")
    ap.add_argument("--out")
    ap.add_argument("--home", default=os.environ.get("HERMES_HOME"))
    ap.add_argument("--root")
    ap.add_argument("--log", default=os.devnull)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--provider")
    ap.add_argument("--pidfile")
    ap.add_argument("--shared", action="store_true", help="read: the shared Nous store must hold the pair too")
    a = ap.parse_args()
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    root = a.root or root_of(a.home)
    if a.mode == "read":
        reads, misses = 0, {}
        end = time.monotonic() + (a.seconds or 0)
        while True:
            try:
                found = find_tokens(a.home, root, a.shared)
            except ValueError:  # partial JSON: Hermes would reset the store
                found = ["unparsable"]
            for m in found:
                misses[m] = misses.get(m, 0) + 1
            reads += 1
            if time.monotonic() >= end:
                break
            time.sleep(a.interval)
        if misses:
            print("missing tokens in %d of %d reads: %s" % (max(misses.values()), reads, misses), file=sys.stderr)
            return 3
        return 0
    if a.mode == "logout":
        logout(a.home, root, a.provider)
        return 0
    if a.mode == "env-set":
        env_set(a.home, a.key, a.value)
        return 0
    if a.mode == "env-remove":
        env_remove(a.home, a.key)
        return 0
    if a.mode == "env-dump":
        env_dump(a.home, a.out)
        return 0
    r = Rotator(a.home, root, a.log)
    if a.mode == "rotate-once":
        r.rotate_once()
        return 0
    end = time.monotonic() + (30 if a.seconds is None else a.seconds)
    period = 1.0 / a.rate
    while time.monotonic() < end:
        r.rotate_once()
        time.sleep(period)
    return 0

if __name__ == "__main__":
    sys.exit(main())
