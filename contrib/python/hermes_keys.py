"""Client of the hermes-keys broker daemon (``hermes-keys serve``).

Standard library only; Python 3.8+. Copy this file next to your program.

    from hermes_keys import Client

    with Client() as hk:                       # finds the socket like hermes-keys does
        token = hk.get("openai-codex.tokens.access_token")
        env = hk.env()                         # {"OPENROUTER_API_KEY": "...", ...}
        block, gen = hk.get_with_generation("openai-codex")
        hk.put("openai-codex", block, if_generation=gen)   # GenerationConflict if someone wrote first

The protocol is JSON lines over a Unix socket (see docs/servers.md): one
request per line, ``{"v":1,"id":N,"op":...}``, one response line per request.
Every call has a timeout; a call that times out closes the connection.

Before it sends anything, the client checks that the socket is this user's
daemon's: the socket's directory belongs to this user and no one else may
write to it, and the process listening on it runs as this user
(SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS). Otherwise it raises
Untrusted and has sent nothing: another user who binds the path first must
learn nothing, and must not choose the answers.

As a command, for scripts and benchmarks:

    python3 hermes_keys.py get REF [--profile NAME]
    python3 hermes_keys.py env [--profile NAME]
    python3 hermes_keys.py status
"""

import json
import os
import re
import socket
import struct
import sys

__all__ = [
    "Client",
    "HermesKeysError",
    "NotFound",
    "Locked",
    "GenerationConflict",
    "Untrusted",
    "socket_path",
    "PROTOCOL_VERSION",
]

PROTOCOL_VERSION = 1
MAX_REQUEST = 1 << 20
_MAX_RESPONSE = 256 << 20

# Error code -> hermes-keys exit code (the command line contract).
_EXIT_CODES = {
    "bad_request": 2,
    "unsupported_version": 2,
    "too_large": 2,
    "not_found": 3,
    "locked": 4,
    "bad_passphrase": 4,
    "lock_timeout": 6,
}


class HermesKeysError(Exception):
    """A failed response, or a broken connection (code "connection")."""

    def __init__(self, message, code="internal", hint=""):
        super().__init__(message)
        self.code = code
        self.hint = hint

    @property
    def exit_code(self):
        return _EXIT_CODES.get(self.code, 1)


class NotFound(HermesKeysError):
    """The vault has no such record or field."""


class Locked(HermesKeysError):
    """The daemon holds no vault key: run ``hermes-keys unlock``."""


class GenerationConflict(HermesKeysError):
    """put with if_generation lost: the record changed since it was read."""


class Untrusted(HermesKeysError):
    """The socket is not this user's daemon's; nothing was sent to it."""


_ERRORS = {"not_found": NotFound, "locked": Locked, "generation": GenerationConflict}


def _hermes_root(environ):
    home = environ.get("HERMES_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".hermes")
    home = os.path.abspath(home)
    parent = os.path.dirname(home)
    if os.path.basename(parent) == "profiles":
        return os.path.dirname(parent)
    return home


def socket_path(environ=None):
    """The daemon's socket: $HERMES_KEYS_SOCKET, else
    $XDG_RUNTIME_DIR/hermes-keys/broker.sock, else
    <hermes root>/hermes-keys/broker.sock."""
    environ = os.environ if environ is None else environ
    p = environ.get("HERMES_KEYS_SOCKET", "").strip()
    if p:
        return p
    rt = environ.get("XDG_RUNTIME_DIR", "").strip()
    if rt and os.path.isabs(rt):
        return os.path.join(rt, "hermes-keys", "broker.sock")
    return os.path.join(_hermes_root(environ), "hermes-keys", "broker.sock")


def _check_socket_dir(path, uid):
    d = os.path.dirname(os.path.abspath(path))
    try:
        st = os.stat(d)
    except OSError as e:
        raise Untrusted("refusing the broker daemon socket %s: its directory: %s" % (path, e), "untrusted") from None
    if st.st_uid != uid:
        raise Untrusted(
            "refusing the broker daemon socket %s: its directory belongs to uid %d, not to this user (uid %d)" % (path, st.st_uid, uid),
            "untrusted",
            "unset HERMES_KEYS_SOCKET or an XDG_RUNTIME_DIR left over from another user",
        )
    if st.st_mode & 0o022:
        raise Untrusted(
            "refusing the broker daemon socket %s: its directory %s is writable by others (mode %04o)" % (path, d, st.st_mode & 0o7777),
            "untrusted",
            "point HERMES_KEYS_SOCKET into a directory only you can write",
        )


def _peer_uid(sock):
    """The uid of the process listening at the other end, or None when this
    platform cannot tell."""
    if hasattr(socket, "SO_PEERCRED"):  # Linux: struct ucred {pid, uid, gid}
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", raw)[1]
    if sys.platform == "darwin":  # LOCAL_PEERCRED: struct xucred {version, uid, ...}
        raw = sock.getsockopt(0, 0x001, 76)
        return struct.unpack_from("=I", raw, 4)[0]
    return None


_ENV_NAME = None


def _env_name_ok(name):
    global _ENV_NAME
    if _ENV_NAME is None:
        _ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
    return bool(_ENV_NAME.match(name))


class Client:
    """One connection to the daemon. Not thread-safe: use one per thread."""

    def __init__(self, path=None, timeout=5.0, vault=None):
        """Connect to the daemon at path (default: socket_path()). timeout
        bounds the connect and every call, in seconds. vault, when given, is
        the vault id every request must match."""
        self.path = path or socket_path()
        self.timeout = timeout
        self.vault = vault
        self._id = 0
        uid = os.getuid()
        _check_socket_dir(self.path, uid)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
            peer = _peer_uid(self._sock)
        except OSError:
            self._sock.close()
            raise
        if peer != uid:
            self._sock.close()
            if peer is None:
                raise Untrusted("cannot tell who listens on %s on this platform" % self.path, "untrusted")
            raise Untrusted(
                "refusing the broker daemon socket %s: the process listening on it runs as uid %d, not as this user (uid %d)" % (self.path, peer, uid),
                "untrusted",
                "another user's process holds this socket path",
            )
        self._rfile = self._sock.makefile("rb")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self._rfile.close()
        finally:
            self._sock.close()

    def call(self, op, **fields):
        """Send one request and return the response dict; raise
        HermesKeysError (or a subclass) on a failed response."""
        self._id += 1
        req = {"v": PROTOCOL_VERSION, "id": self._id, "op": op}
        if self.vault:
            req["vault"] = self.vault
        req.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(req, separators=(",", ":")).encode() + b"\n"
        if len(line) > MAX_REQUEST:
            raise HermesKeysError("request is larger than 1 MiB", "too_large")
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(line)
            raw = self._rfile.readline(_MAX_RESPONSE)
        except (OSError, socket.timeout) as e:
            self.close()
            raise HermesKeysError("broker daemon connection: %s" % e, "connection") from None
        if not raw.endswith(b"\n"):
            self.close()
            raise HermesKeysError("broker daemon closed the connection", "connection")
        resp = json.loads(raw)
        if not resp.get("ok"):
            code = resp.get("code") or "internal"
            cls = _ERRORS.get(code, HermesKeysError)
            raise cls(resp.get("error", "request failed"), code, resp.get("hint", ""))
        if resp.get("id") != self._id:
            self.close()
            raise HermesKeysError("response for another request", "connection")
        return resp

    def ping(self):
        self.call("ping")

    def get_with_generation(self, ref, profile=""):
        """The value at ref (decoded JSON) and its record's generation."""
        r = self.call("get", ref=ref, profile=profile or None)
        return r.get("value"), r.get("generation", 0)

    def get(self, ref, profile=""):
        """The value at ref: a str for a token or env key, a dict for a block."""
        return self.get_with_generation(ref, profile)[0]

    def put(self, ref, value, if_generation=None, profile=""):
        """Store a whole record (a str for env:NAME, a dict otherwise).
        With if_generation (0: must not exist) raise GenerationConflict if
        the record is no longer at that generation. Returns the new
        generation."""
        r = self.call("put", ref=ref, value=value, if_generation=if_generation, profile=profile or None)
        return r["generation"]

    def env(self, profile=""):
        """NAME -> value of the sealed .env keys. A name that is not a
        variable name, or a value with a line break or NUL, is left out
        (named on stderr, never its value), whatever the daemon sent."""
        out = {}
        for k, v in self.call("env", profile=profile or None).get("env", {}).items():
            if not isinstance(k, str) or not _env_name_ok(k):
                sys.stderr.write("warning: env:%r is not a valid variable name; skipped\n" % (k,))
            elif not isinstance(v, str) or any(c in v for c in "\r\n\x00"):
                sys.stderr.write("warning: env:%s spans lines or holds a NUL; skipped\n" % k)
            else:
                out[k] = v
        return out

    def status(self):
        """What the daemon says about itself (never a value)."""
        return self.call("status")["status"]


def _main(argv):
    args = list(argv)
    profile = ""
    if "--profile" in args:
        i = args.index("--profile")
        profile = args[i + 1]
        del args[i : i + 2]
    if not args or args[0] not in ("get", "env", "status"):
        sys.stderr.write("usage: hermes_keys.py get REF | env | status [--profile NAME]\n")
        return 2
    try:
        with Client() as hk:
            if args[0] == "get" and len(args) == 2:
                v = hk.get(args[1], profile)
                sys.stdout.write((v if isinstance(v, str) else json.dumps(v, indent=2)) + "\n")
            elif args[0] == "env":
                for k, v in sorted(hk.env(profile).items()):
                    sys.stdout.write("%s=%s\n" % (k, v))
            elif args[0] == "status":
                sys.stdout.write(json.dumps(hk.status(), indent=2) + "\n")
            else:
                sys.stderr.write("usage: hermes_keys.py get REF\n")
                return 2
    except HermesKeysError as e:
        sys.stderr.write("hermes-keys: %s\n" % e)
        if e.hint:
            sys.stderr.write("hint: %s\n" % e.hint)
        return e.exit_code
    except OSError as e:
        sys.stderr.write("hermes-keys: no broker daemon: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
