# Replaces only the HTTP exchange of Hermes's device-code logins (OpenAI
# Codex and Nous Portal), for tests with no network: every httpx.Client gets
# a MockTransport that answers those endpoints with minted JWTs whose
# signature segment is a canary, and refuses every other request as a
# connection error. Hermes's own code stores what it receives.
# Loaded through PYTHONPATH by internal/realhermes; HK_SHIM_TAG (a short
# word) makes the values of each login distinct.
import base64
import json
import os
import time

try:
    import httpx
except ImportError:  # not Hermes's interpreter: nothing to replace
    httpx = None

_TAG = os.environ.get("HK_SHIM_TAG", "x")
_LOG = os.environ.get("HK_SHIM_LOG")


def _b64(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwt(claims, sig):
    # The signature is not checked by Hermes; a canary there makes every
    # copy of the token findable by a plain byte scan.
    return _b64({"alg": "RS256", "typ": "JWT"}) + "." + _b64(claims) + "." + sig


_EXP = int(time.time()) + 30 * 86400


def _codex_tokens():
    claims = {
        "exp": _EXP,
        "iat": int(time.time()),
        "email": "hk-%s@example.invalid" % _TAG,
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-%s" % _TAG, "chatgpt_plan_type": "plus"},
    }
    return {
        "access_token": _jwt(claims, "CANARY-codex-access-" + _TAG),
        "refresh_token": "CANARY-codex-refresh-" + _TAG,
        "id_token": _jwt(claims, "CANARY-codex-id-" + _TAG),
    }


def _nous_tokens():
    claims = {"exp": _EXP, "iat": int(time.time()), "scope": "inference:invoke", "sub": "hk-" + _TAG}
    return {
        "access_token": _jwt(claims, "CANARY-nous-access-" + _TAG),
        "refresh_token": "CANARY-nous-refresh-" + _TAG,
        "token_type": "Bearer",
        "expires_in": 30 * 86400,
        "scope": "inference:invoke",
    }


def _handler(request):
    url = str(request.url)
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(request.method + " " + url.split("?")[0] + "\n")
    path = request.url.path
    if request.url.host == "auth.openai.com":
        if path == "/api/accounts/deviceauth/usercode":
            return httpx.Response(200, json={"user_code": "HKTE-ST00", "device_auth_id": "dev-" + _TAG, "interval": "1"})
        if path == "/api/accounts/deviceauth/token":
            return httpx.Response(200, json={"authorization_code": "code-" + _TAG, "code_verifier": "verifier-" + _TAG})
        if path == "/oauth/token":
            return httpx.Response(200, json=_codex_tokens())
    if path == "/api/oauth/device/code":
        return httpx.Response(200, json={
            "device_code": "dev-" + _TAG, "user_code": "HKTE-ST00",
            "verification_uri": "https://portal.invalid/device",
            "verification_uri_complete": "https://portal.invalid/device?code=HKTE-ST00",
            "expires_in": 600, "interval": 1,
        })
    if path == "/api/oauth/token":
        return httpx.Response(200, json=_nous_tokens())
    raise httpx.ConnectError("no network in this test: " + request.method + " " + url.split("?")[0], request=request)


def _init(self, *args, **kwargs):
    kwargs["transport"] = httpx.MockTransport(_handler)
    kwargs.pop("proxy", None)
    kwargs.pop("proxies", None)
    _orig_init(self, *args, **kwargs)


if httpx is not None:
    _orig_init = httpx.Client.__init__
    httpx.Client.__init__ = _init
