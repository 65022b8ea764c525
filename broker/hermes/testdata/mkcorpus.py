#!/usr/bin/env python3
"""Writes the test corpus: Hermes stores of every era and shape, with
synthetic canary secrets, serialised exactly as Hermes's writers do.

Every secret value contains the string CANARY (JWTs carry it in their
signature part), so a test can check that no secret is left in a skeleton
or reaches an error. Run from this directory: python3 mkcorpus.py
"""
import base64
import json
import os


def b64(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(tag, exp, **claims):
    claims = dict(claims, exp=exp)
    return b64({"alg": "RS256", "typ": "JWT"}) + "." + b64(claims) + ".CANARY-sig-" + tag


EXP = 1784548800  # 2026-07-20T12:00:00Z


def jul(doc):  # July 2026 writer: indent=2, ensure_ascii=True, newline
    return json.dumps(doc, indent=2) + "\n"


def latest(doc):  # later writer: indent=2, ensure_ascii=False, no newline
    return json.dumps(doc, indent=2, ensure_ascii=False)


STATUS = {
    "last_status": None, "last_status_at": None, "last_error_code": None,
    "last_error_reason": None, "last_error_message": None, "last_error_reset_at": None,
}


def entry(id, label, auth_type, priority, source, secrets=None, **extra):
    e = {"id": id, "label": label, "auth_type": auth_type, "priority": priority, "source": source}
    e.update(secrets or {})
    e.update(STATUS)
    e.update(extra)
    return e


nous_block = {
    "portal_base_url": "https://portal.nousresearch.com",
    "inference_base_url": "https://inference-api.nousresearch.com/v1",
    "client_id": "hermes-cli",
    "scope": "inference:invoke tool:invoke",
    "token_type": "Bearer",
    "access_token": jwt("nous-access", EXP, scope="inference:invoke"),
    "refresh_token": "CANARY-nous-refresh-0001",
    "obtained_at": "2026-07-20T09:58:12.512334+00:00",
    "expires_at": "2026-07-20T10:58:12+00:00",
    "expires_in": 3599,
    "tls": {"insecure": False, "ca_bundle": None},
    "agent_key": jwt("nous-agent", EXP, scope="inference:invoke"),
    "agent_key_id": None,
    "agent_key_expires_at": "2026-07-20T10:58:12+00:00",
    "agent_key_expires_in": 3599,
    "agent_key_reused": False,
    "agent_key_obtained_at": "2026-07-20T09:58:12.601122+00:00",
}
codex_access = jwt("codex-access", EXP + 600, email="me@example.com")
codex_block = {
    "tokens": {"access_token": codex_access, "refresh_token": "rt_CANARY-codex-refresh-0001"},
    "last_refresh": "2026-07-20T09:40:03.118204Z",
    "auth_mode": "chatgpt",
}
xai_block = {
    "tokens": {
        "access_token": jwt("xai-access", EXP + 1200),
        "refresh_token": "CANARY-xai-refresh-0001",
        "id_token": jwt("xai-id", EXP + 1200),
        "expires_in": 21600,
        "token_type": "Bearer",
    },
    "last_refresh": "2026-07-20T08:00:00.000000Z",
    "auth_mode": "oauth_device_code",
    "discovery": {
        "authorization_endpoint": "https://auth.x.ai/oauth2/authorize",
        "token_endpoint": "https://auth.x.ai/oauth2/token",
    },
    "redirect_uri": "",
}
zai_block = {"detected_endpoint": {
    "base_url": "https://api.z.ai/api/coding/paas/v4", "endpoint_id": "coding",
    "model": "glm-4.6", "label": "Z.AI Coding Plan", "key_hash": "0f3c9a1d2b4e5f60"}}

# §2.5: the reference's own example, JUL writer.
jul_reference = {
    "version": 1,
    "providers": {"nous": nous_block, "openai-codex": codex_block, "xai-oauth": xai_block, "zai": zai_block},
    "active_provider": "openai-codex",
    "credential_pool": {
        "openai-codex": [entry("a1b2c3", "me@example.com", "oauth", 0, "device_code",
                               {"access_token": codex_access, "refresh_token": "rt_CANARY-codex-refresh-0001"},
                               base_url="https://chatgpt.com/backend-api/codex",
                               last_refresh="2026-07-20T09:40:03.118204Z", request_count=17)],
        "openrouter": [dict(entry("d4e5f6", "OPENROUTER_API_KEY", "api_key", 0, "env:OPENROUTER_API_KEY",
                                  base_url="https://openrouter.ai/api/v1", request_count=142,
                                  secret_fingerprint="sha256:12ab34cd56ef7890"), last_status="ok")],
        "anthropic": [
            entry("0a1b2c", "personal-api-key", "api_key", 0, "manual",
                  {"access_token": "sk-ant-api03-CANARY-manual-0001"},
                  base_url="https://api.anthropic.com", request_count=0),
            entry("9f8e7d", "hermes_pkce", "oauth", 1, "hermes_pkce",
                  {"access_token": "sk-ant-oat01-CANARY-pkce-access", "refresh_token": "sk-ant-ort01-CANARY-pkce-refresh"},
                  expires_at_ms=1784548800000, request_count=3),
        ],
        "nous": [entry("77aa88", "me@example.com", "oauth", 0, "device_code",
                       {"access_token": nous_block["access_token"], "refresh_token": "CANARY-nous-refresh-0001"},
                       expires_at="2026-07-20T10:58:12+00:00",
                       inference_base_url="https://inference-api.nousresearch.com/v1",
                       agent_key=nous_block["agent_key"], agent_key_expires_at="2026-07-20T10:58:12+00:00",
                       request_count=5, token_type="Bearer", scope="inference:invoke tool:invoke",
                       client_id="hermes-cli", portal_base_url="https://portal.nousresearch.com",
                       obtained_at="2026-07-20T09:58:12.512334+00:00", expires_in=3599,
                       agent_key_reused=False, agent_key_obtained_at="2026-07-20T09:58:12.601122+00:00",
                       tls={"insecure": False, "ca_bundle": None})],
    },
    "suppressed_sources": {"anthropic": ["claude_code"]},
    "updated_at": "2026-07-20T10:00:01.234567+00:00",
}

# Every provider block type (§2.2), later writer, with Codex imported from
# the Codex CLI (id_token and account_id copied verbatim) and a guest Nous.
latest_providers = {
    "version": 1,
    "providers": {
        "nous": {
            "portal_base_url": "https://portal.nousresearch.com",
            "inference_base_url": "https://welcome-api.nousresearch.com/v1",
            "client_id": "hermes-cli", "scope": "inference:invoke", "token_type": "Bearer",
            "access_token": jwt("guest-access", EXP), "refresh_token": "CANARY-guest-refresh",
            "obtained_at": "2026-09-01T10:00:00+00:00", "expires_at": "2026-09-01T11:00:00+00:00",
            "expires_in": 3600, "tls": {"insecure": False, "ca_bundle": None},
            "agent_key": jwt("guest-access", EXP), "agent_key_id": None,
            "auth_method": "anonymous", "account_tier": "free", "anon_token": "CANARY-anon-token",
            "user_id": "u_123", "org_id": None, "label": "Zoë’s laptop — 東京",
        },
        "openai-codex": {
            "tokens": {"id_token": jwt("codex-id", EXP), "access_token": jwt("codex-imported", EXP),
                       "refresh_token": "rt_CANARY-codex-imported", "account_id": "acct-1234"},
            "last_refresh": "2026-09-01T10:00:00.000000Z", "auth_mode": "chatgpt", "label": "imported",
        },
        "xai-oauth": xai_block,
        "minimax-oauth": {
            "provider": "minimax-oauth", "region": "global", "portal_base_url": "https://api.minimax.io",
            "inference_base_url": "https://api.minimax.io/v1", "client_id": "78257093-7e40-4613-99e0-527b14b39113",
            "scope": "group_id profile model.completion", "token_type": "Bearer",
            "access_token": "CANARY-minimax-access", "refresh_token": "CANARY-minimax-refresh",
            "resource_url": "https://api.minimax.io", "obtained_at": "2026-09-01T10:00:00+00:00",
            "expires_at": "2026-09-01T12:00:00+00:00", "expires_in": 7200,
        },
        "spotify": {
            "client_id": "spotify-client-123", "redirect_uri": "http://127.0.0.1:43827/spotify/callback",
            "accounts_base_url": "https://accounts.spotify.com", "api_base_url": "https://api.spotify.com/v1",
            "scope": "user-read-playback-state", "granted_scope": "user-read-playback-state",
            "token_type": "Bearer", "access_token": "CANARY-spotify-access", "refresh_token": "CANARY-spotify-refresh",
            "obtained_at": "2026-09-01T10:00:00+00:00", "expires_at": "2026-09-01T11:00:00+00:00",
            "expires_in": 3600, "auth_type": "oauth_pkce",
        },
        "qwen-oauth": {"base_url": "https://portal.qwen.ai/v1"},
        "zai": zai_block,
    },
    "active_provider": "nous",
    "credential_pool": {
        "minimax-oauth": [entry("mm0001", "minimax", "oauth", 0, "oauth",
                                {"access_token": "CANARY-minimax-access", "refresh_token": "CANARY-minimax-refresh"},
                                expires_at_ms=1788000000000)],
        "nous": [entry("77aa99", "guest", "oauth", 0, "device_code",
                       {"access_token": jwt("guest-access", EXP), "refresh_token": "CANARY-guest-refresh"},
                       agent_key=jwt("guest-access", EXP))],
    },
    "suppressed_sources": {},
    "updated_at": "2026-09-01T10:00:00.000001+00:00",
}

fp = "sha256:0123456789abcdef"
# One pool entry per source type (§2.3): owned sources keep raw secrets,
# borrowed ones only a fingerprint.
pool_sources = {
    "version": 1,
    "providers": {},
    "credential_pool": {
        "anthropic": [
            entry("aa0001", "hermes_pkce", "oauth", 0, "hermes_pkce",
                  {"access_token": "sk-ant-oat01-CANARY-a1", "refresh_token": "sk-ant-ort01-CANARY-a1"}, expires_at_ms=1784548800000),
            entry("aa0002", "claude_code", "oauth", 1, "claude_code", secret_fingerprint=fp, expires_at_ms=1784548800000),
            entry("aa0003", "manual", "api_key", 2, "manual", {"access_token": "sk-ant-api03-CANARY-a3"}),
            entry("aa0004", "pkce", "oauth", 3, "manual:hermes_pkce",
                  {"access_token": "sk-ant-oat01-CANARY-a4", "refresh_token": "sk-ant-ort01-CANARY-a4"}),
            entry("aa0005", "dash", "oauth", 4, "manual:dashboard_pkce",
                  {"access_token": "sk-ant-oat01-CANARY-a5", "refresh_token": "sk-ant-ort01-CANARY-a5"}),
            entry("aa0006", "ANTHROPIC_TOKEN", "oauth", 5, "env:ANTHROPIC_TOKEN", secret_fingerprint=fp),
        ],
        "openai-codex": [
            entry("cc0001", "me@example.com", "oauth", 0, "device_code",
                  {"access_token": jwt("c1", EXP), "refresh_token": "rt_CANARY-c1"}, last_refresh="2026-07-20T09:40:03.118204Z"),
            entry("cc0002", "second", "oauth", 1, "manual:device_code",
                  {"access_token": jwt("c2", EXP), "refresh_token": "rt_CANARY-c2"}, last_refresh="2026-07-20T09:40:03.118204Z"),
        ],
        "xai-oauth": [entry("xx0001", "grok", "oauth", 0, "device_code",
                            {"access_token": jwt("x1", EXP), "refresh_token": "CANARY-x1"})],
        "nous": [entry("nn0001", "me", "oauth", 0, "device_code",
                       {"access_token": jwt("n1", EXP), "refresh_token": "CANARY-n1"}, agent_key=jwt("n1", EXP))],
        "qwen-oauth": [
            entry("qq0001", "qwen-cli", "oauth", 0, "qwen-cli", secret_fingerprint=fp, expires_at_ms=1784548800000),
            entry("qq0002", "qwen manual", "oauth", 1, "manual:qwen_cli",
                  {"access_token": "CANARY-q2", "refresh_token": "CANARY-q2r"}, expires_at_ms=1784548800000),
        ],
        "copilot": [entry("gh0001", "gh auth token", "api_key", 0, "gh_cli", secret_fingerprint=fp)],
        "openrouter": [
            entry("or0001", "OPENROUTER_API_KEY", "api_key", 0, "env:OPENROUTER_API_KEY", secret_fingerprint=fp),
            entry("or0002", "pkce", "api_key", 1, "manual:openrouter_pkce", {"access_token": "sk-or-v1-CANARY-or2"}),
        ],
        "minimax-oauth": [
            entry("mm0001", "minimax", "oauth", 0, "oauth", {"access_token": "CANARY-m1", "refresh_token": "CANARY-m1r"}),
            entry("mm0002", "minimax manual", "oauth", 1, "manual:minimax_oauth",
                  {"access_token": "CANARY-m2", "refresh_token": "CANARY-m2r"}),
        ],
        "custom:my-llm": [entry("cu0001", "my-llm", "api_key", 0, "config:my-llm", secret_fingerprint=fp,
                                base_url="http://localhost:8080/v1")],
        "gemini": [entry("ge0001", "model", "api_key", 0, "model_config", secret_fingerprint=fp, secret_source="bitwarden")],
        "photon": [entry("ph0001", "photon", "api_key", 0, "manual", {"access_token": "CANARY-photon"})],
        "photon_project": [],
        "photon_user": [entry("pu0001", "user", "api_key", 0, "env:PHOTON_USER_KEY", secret_fingerprint=fp)],
    },
    "suppressed_sources": {"anthropic": ["claude_code", "env:ANTHROPIC_TOKEN"], "openrouter": ["env:OPENROUTER_API_KEY"]},
    "updated_at": "2026-07-20T10:00:01.234567+00:00",
}

# Before #31416 (2026-05-25): borrowed entries still carried raw keys.
pre_sanitisation = {
    "version": 1,
    "providers": {"openai-codex": codex_block},
    "active_provider": "openai-codex",
    "credential_pool": {
        "openrouter": [entry("e00001", "OPENROUTER_API_KEY", "api_key", 0, "env:OPENROUTER_API_KEY",
                             {"access_token": "sk-or-v1-CANARY-env-raw"}, base_url="https://openrouter.ai/api/v1")],
        "anthropic": [entry("e00002", "claude_code", "oauth", 0, "claude_code",
                            {"access_token": "sk-ant-oat01-CANARY-cc", "refresh_token": "sk-ant-ort01-CANARY-cc"},
                            expires_at_ms=1784548800000)],
    },
    "updated_at": "2026-05-01T10:00:00.000000+00:00",
}

# The February 2026 format Hermes migrates in memory.
legacy_systems = {"systems": {"nous_portal": {
    "portal_base_url": "https://portal.nousresearch.com", "client_id": "hermes-cli",
    "access_token": jwt("legacy", EXP), "refresh_token": "CANARY-legacy-refresh",
    "agent_key": "CANARY-legacy-agent-key", "agent_key_id": "ak_1", "expires_at": "2026-02-21T10:00:00+00:00",
}}}

# Quarantined logins: Nous lost its tokens but its device_code entry kept
# them; Codex lost them everywhere.
quarantined = {
    "version": 1,
    "providers": {
        "nous": {"portal_base_url": "https://portal.nousresearch.com", "client_id": "hermes-cli",
                 "last_auth_error": {"provider": "nous", "code": "invalid_grant", "message": "Refresh session revoked",
                                     "reason": "invalid_grant", "relogin_required": True, "at": "2026-07-20T10:00:00+00:00"}},
        "openai-codex": {"tokens": {}, "last_refresh": "2026-07-20T09:40:03.118204Z", "auth_mode": "chatgpt",
                         "last_auth_error": {"provider": "openai-codex", "code": "refresh_token_reused",
                                             "relogin_required": True}},
    },
    "active_provider": "nous",
    "credential_pool": {
        "nous": [entry("77aa88", "me", "oauth", 0, "device_code",
                       {"access_token": jwt("q-nous", EXP), "refresh_token": "CANARY-q-nous-refresh"})],
        "openai-codex": [dict(entry("a1b2c3", "me", "oauth", 0, "device_code"), last_status="dead")],
    },
    "updated_at": "2026-07-20T10:00:01.234567+00:00",
}

# Members in an unusual order, keys Hermes does not know, a plugin's
# top-level member with a secret, escapes and non-ASCII text.
unknown_members = {
    "updated_at": "2026-07-20T10:00:01.234567+00:00",
    "photon_state": {"session_token": "CANARY-photon-session", "user": "me"},
    "x-extension": {"note": "tab\tquote\" backslash\\ slash/ emoji 😀 nul-ish \u0001 del \u007f"},
    "version": 1,
    "providers": {"openai-codex": dict(codex_block, future_field={"nested": [1, 2.5, -3e-05, True, None]})},
    "credential_pool": {"openai-codex": [dict(jul_reference["credential_pool"]["openai-codex"][0], extra_unknown="kept")]},
    "active_provider": None,
}

# A store hermes-keys already sealed: the skeleton with its marker.
sealed_skeleton = {
    "version": 1,
    "providers": {"zai": zai_block},
    "active_provider": "openai-codex",
    "credential_pool": {"openrouter": jul_reference["credential_pool"]["openrouter"], "openai-codex": []},
    "suppressed_sources": {},
    "updated_at": "2026-07-20T10:00:01.234567+00:00",
    "hermes_keys": {"sealed": True, "vault_id": "v-test", "sealed_at": "2026-07-20T10:05:00Z",
                    "run": "hermes-keys run -- hermes"},
}

CORPUS = {
    "jul_reference.json": jul(jul_reference),
    "latest_providers.json": latest(latest_providers),
    "pool_sources.json": jul(pool_sources),
    "pre_sanitisation.json": jul(pre_sanitisation),
    "legacy_systems.json": jul(legacy_systems),
    "quarantined.json": latest(quarantined),
    "unknown_members.json": latest(unknown_members),
    "sealed_skeleton.json": jul(sealed_skeleton),
    "empty_object.json": jul({}),
    "empty_store.json": jul({"version": 1, "providers": {}}),
}


def write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


for name, text in CORPUS.items():
    write(os.path.join("corpus", name), text)
write(os.path.join("corpus", "array.json"), "[]\n")

# A Hermes root with a profile (whose Codex login lives at the root: the
# profile falls back per provider), the shared Nous store, Hermes's own
# Anthropic login, .env files and the plaintext copies Hermes leaves.
root_auth = {
    "version": 1,
    "providers": {"openai-codex": codex_block, "nous": nous_block},
    "active_provider": "openai-codex",
    "credential_pool": {"openai-codex": jul_reference["credential_pool"]["openai-codex"],
                        "anthropic": [jul_reference["credential_pool"]["anthropic"][1]]},
    "updated_at": "2026-07-20T10:00:01.234567+00:00",
}
profile_auth = {
    "version": 1,
    "providers": {"xai-oauth": xai_block},
    "active_provider": "openai-codex",
    "credential_pool": {"openrouter": [entry("pr0001", "work key", "api_key", 0, "manual",
                                             {"access_token": "sk-or-v1-CANARY-work"})]},
    "updated_at": "2026-07-20T10:00:01.234567+00:00",
}
shared_nous = {
    "_schema": 1, "access_token": nous_block["access_token"], "refresh_token": "CANARY-nous-refresh-0001",
    "token_type": "Bearer", "scope": "inference:invoke tool:invoke", "client_id": "hermes-cli",
    "portal_base_url": "https://portal.nousresearch.com",
    "inference_base_url": "https://inference-api.nousresearch.com/v1",
    "obtained_at": "2026-07-20T09:58:12.512334+00:00", "expires_at": "2026-07-20T10:58:12+00:00",
    "updated_at": "2026-07-20T10:00:01.234567+00:00",
}
anthropic_oauth = {"accessToken": "sk-ant-oat01-CANARY-pkce-access",
                   "refreshToken": "sk-ant-ort01-CANARY-pkce-refresh", "expiresAt": 1784548800000}
root_env = """# Hermes .env
OPENROUTER_API_KEY=sk-or-v1-CANARY-env-openrouter
export ANTHROPIC_TOKEN='sk-ant-oat01-CANARY-env-token'

# not secrets
OPENAI_BASE_URL=https://api.openai.com/v1
HERMES_MAX_TURNS=40   # inline comment
TELEGRAM_BOT_TOKEN="123456:CANARY-telegram"
GITHUB_TOKEN=***
FAL_KEY=op://vault/fal/credential
"""
H = os.path.join("home")
write(os.path.join(H, "auth.json"), jul(root_auth))
write(os.path.join(H, ".env"), root_env)
write(os.path.join(H, ".anthropic_oauth.json"), latest(anthropic_oauth))
write(os.path.join(H, "shared", "nous_auth.json"), json.dumps(shared_nous, indent=2, sort_keys=True))
write(os.path.join(H, "profiles", "work", "auth.json"), latest(profile_auth))
write(os.path.join(H, "profiles", "work", ".env"), "XAI_API_KEY=xai-CANARY-work\n")
write(os.path.join(H, "state-snapshots", "20260719-120000", "auth.json"), jul(root_auth))
write(os.path.join(H, "state-snapshots", "20260719-120000", ".env"), root_env)
write(os.path.join(H, "auth.json.corrupt"), jul(root_auth)[:700])
write(os.path.join(H, "auth.json.tmp.4242.0123456789abcdef0123456789abcdef"), jul(root_auth)[:300])
write(os.path.join(H, ".env_abc123.tmp"), "OPENROUTER_API_KEY=sk-or-v1-CANARY-env-openrouter\n")
