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

As a command, for scripts and benchmarks:

    python3 hermes_keys.py get REF [--profile NAME]
    python3 hermes_keys.py env [--profile NAME]
    python3 hermes_keys.py status
"""

import json
import os
import socket

__all__ = [
    "Client",
    "HermesKeysError",
    "NotFound",
    "Locked",
    "GenerationConflict",
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
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
        except OSError:
            self._sock.close()
            raise
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
        """NAME -> value of the sealed .env keys."""
        return self.call("env", profile=profile or None).get("env", {})

    def status(self):
        """What the daemon says about itself (never a value)."""
        return self.call("status")["status"]


def _main(argv):
    import sys

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
    import sys

    sys.exit(_main(sys.argv[1:]))
