# A reimplementation (ours, written from its documented rules) of how the
# command secret source of Hermes releases after 0.19.0
# (agent/secret_sources/command.py, _parse_dotenv_map and
# unquote_dotenv_value) reads a KEY=VALUE blob: CRLF to LF, each line
# stripped, blank and '#' lines skipped, ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$,
# the value stripped and one layer of matching quotes removed. The released
# 0.19.0 has no such source, so the real parser cannot be run here.
# Reads the blob on stdin (UTF-8), prints the map as JSON.
import json
import re
import sys

_ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def unquote(raw):
    t = raw.strip()
    if len(t) >= 2 and ((t.startswith('"') and t.endswith('"')) or (t.startswith("'") and t.endswith("'"))):
        return t[1:-1]
    return t


out = {}
text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
for raw in text.replace("\r\n", "\n").split("\n"):
    line = raw.strip()
    if not line or line.startswith("#"):
        continue
    m = _ENV_LINE.match(line)
    if m:
        out[m.group(1)] = unquote(m.group(2))
json.dump(out, sys.stdout)
