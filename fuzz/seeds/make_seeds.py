#!/usr/bin/env python3
"""Writes the hand-made seeds of every fuzz target into fuzz/corpus/<target>/ (run from anywhere;
existing seed files of the same name are overwritten, generated corpus entries are left alone)."""
import hashlib, json, os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")

def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

J = lambda v: json.dumps(v, separators=(",", ":"))
AUTH = "cookie: kavach_session={session}\norigin: {origin}\ncontent-type: application/json"

# ---- http_router: the text form of a request (see fuzz/src/lib.rs parse_request) ----------------
router = {
    "sign-up": f"POST /auth/sign-up\ncontent-type: application/json\norigin: {{origin}}\n\n" + J({"email": "new@example.com", "password": "correct horse battery", "name": "N"}),
    "sign-in": "POST /auth/sign-in\ncontent-type: application/json\n\n" + J({"email": "fuzz1@example.com", "password": "correct horse battery"}),
    "sign-in-bad-json": "POST /auth/sign-in\ncontent-type: application/json\n\n{\"email\":",
    "sign-in-wrong-type": "POST /auth/sign-in\ncontent-type: text/plain\n\nemail=a",
    "session-cookie": "GET /auth/session\ncookie: kavach_session={session}",
    "session-bearer": "GET /auth/session\nauthorization: Bearer {session}",
    "session-quoted": "GET /auth/session\ncookie: a=1; kavach_session=\"{session}\"; b",
    "session-agent-bearer": "GET /auth/session\nauthorization: bearer {agentToken}",
    "sign-out": f"POST /auth/sign-out\n{AUTH}\n\n" + J({"all": False}),
    "sign-out-no-origin": "POST /auth/sign-out\ncookie: kavach_session={session}\n\n{}",
    "sign-out-bad-origin": "POST /auth/sign-out\ncookie: kavach_session={session}\norigin: https://evil.example\n\n{}",
    "agents-list": "GET /agents?status=active&limit=5&offset=0\ncookie: kavach_session={session}",
    "agents-create": f"POST /agents\n{AUTH}\n\n" + J({"name": "a", "type": "autonomous", "permissions": [{"resource": "files:*", "actions": ["read"], "constraints": {"timeWindow": {"start": "09:00", "end": "17:00"}, "ipAllowlist": ["10.0.0.0/8"]}}]}),
    "agent-get": "GET /agents/{agentId}\ncookie: kavach_session={session}",
    "agent-patch": f"PATCH /agents/{{agentId}}\n{AUTH}\n\n" + J({"name": "renamed", "expiresAt": None}),
    "agent-rotate": f"POST /agents/{{agentId}}/rotate\n{AUTH}\n\n{{}}",
    "agent-trust": "GET /agents/{agentId}/trust\ncookie: kavach_session={session}",
    "authorize": f"POST /authorize\n{AUTH}\n\n" + J({"agentId": "{agentId}", "action": "read", "resource": "docs:1", "arguments": {"q": "x"}, "ip": "::ffff:10.1.2.3"}),
    "authorize-token": f"POST /authorize/token\n{AUTH}\nauthorization: Bearer {{agentToken}}\n\n" + J({"action": "read", "resource": "mcp:github:repo"}),
    "audit": "GET /audit?agentId={agentId}&since=2026-01-01T00:00:00Z&until=99&actions=read,write&limit=10\ncookie: kavach_session={session}",
    "audit-export": "GET /audit/export?format=csv\ncookie: kavach_session={session}",
    "approvals": "GET /approvals\ncookie: kavach_session={session}",
    "options": "OPTIONS /agents/{agentId}\norigin: {origin}",
    "not-found": "GET /nope/../agents",
    "method-not-allowed": "PUT /auth/sign-in",
    "double-slash": "GET //agents//\ncookie: kavach_session={session}",
    "orgs-create": f"POST /organizations\n{AUTH}\n\n" + J({"name": "Acme", "slug": "acme"}),
    "orgs-active": f"POST /organizations/active\n{AUTH}\n\n" + J({"organizationId": None}),
    "jwt-token": "GET /jwt/token\ncookie: kavach_session={session}",
    "jwks": "GET /jwks",
    "api-key-create": f"POST /auth/api-key/create\n{AUTH}\n\n" + J({"name": "k"}),
    "api-key-verify": "POST /auth/api-key/verify\ncontent-type: application/json\n\n" + J({"key": "kv_xxx"}),
    "two-factor-enable": f"POST /two-factor/enable\n{AUTH}\n\n" + J({"password": "correct horse battery"}),
    "anonymous": "POST /auth/sign-in/anonymous\norigin: {origin}\ncontent-type: application/json\n\n{}",
    "shim-fields": "GET /auth/session\n: ip 203.0.113.9\n: mount /api/auth\n: url-origin http://localhost:3000\nhost: localhost:3000\norigin: http://localhost:3000",
    "huge-header": "GET /auth/session\ncookie: " + ";" * 200 + "kavach_session=" + "a" * 600,
    "forgot": "POST /auth/forgot-password\norigin: {origin}\ncontent-type: application/json; charset=utf-8\n\n" + J({"email": "fuzz1@example.com", "redirectTo": "/reset"}),
    "verify-email-get": "GET /auth/verify-email?token=abc&callbackURL=%2F",
}
for k, v in router.items():
    put("http_router", k, v)

# ---- route_bodies: "METHOD /pattern" then the body ------------------------------------------
bodies = [
    ("POST /auth/sign-up", {"email": "b@example.com", "password": "correct horse battery", "name": "B", "image": None}),
    ("POST /auth/sign-in", {"email": "fuzz1@example.com", "password": "correct horse battery"}),
    ("POST /auth/sign-out", {"all": True}),
    ("POST /auth/update-user", {"name": "New", "image": "https://example.com/a.png"}),
    ("POST /auth/forgot-password", {"email": "fuzz1@example.com", "redirectTo": "https://localhost:3000/r"}),
    ("POST /auth/reset-password", {"token": "t", "newPassword": "another horse battery"}),
    ("POST /auth/change-password", {"currentPassword": "correct horse battery", "newPassword": "correct horse battery", "revokeOtherSessions": False}),
    ("POST /auth/send-verification-email", {"callbackURL": "/done"}),
    ("POST /auth/verify-email", {"token": "abc"}),
    ("POST /agents", {"name": "x", "type": "service", "permissions": [{"resource": "db:*", "actions": ["*"], "constraints": {"maxCallsPerHour": 5, "requireApproval": False, "allowedArgPatterns": ["^[a-z]+$"], "minTrust": 10}}], "expiresAt": 4102444800000, "metadata": {"k": [1, 2]}}),
    ("PATCH /agents/:id", {"permissions": [{"resource": "*", "actions": ["read"]}], "metadata": None}),
    ("DELETE /agents/:id", None),
    ("POST /agents/:id/rotate", {}),
    ("POST /authorize", {"agentId": "{agentId}", "action": "read", "resource": "a:b:c", "arguments": [{"x": ["y", {"z": "w"}]}]}),
    ("POST /authorize/token", {"token": "{agentToken}", "action": "write", "resource": "mcp:github:issues", "ip": "2001:db8::1"}),
    ("POST /approvals/:id/approve", {}),
    ("POST /approvals/:id/deny", {"reason": "no"}),
    ("POST /organizations", {"name": "Org", "slug": "org-1", "metadata": {"a": 1}}),
    ("PATCH /organizations/:id", {"name": "Org 2"}),
    ("POST /organizations/:id/invitations", {"email": "i@example.com", "role": "admin"}),
    ("POST /organizations/:id/members", {"userId": "{userId}", "role": "member"}),
    ("PATCH /organizations/:id/members/:user", {"role": "owner"}),
    ("POST /organizations/:id/has-permission", {"permission": {"member": ["create"]}}),
    ("POST /organizations/active", {"organizationId": "fuzz"}),
    ("POST /invitations/:id/accept", {}),
    ("POST /two-factor/enable", {"password": "correct horse battery"}),
    ("POST /two-factor/verify", {"code": "123456", "trustDevice": True}),
    ("POST /two-factor/disable", {"password": "correct horse battery"}),
    ("POST /two-factor/backup-codes", {"password": "correct horse battery"}),
    ("POST /admin/users/:id/ban", {"reason": "spam", "expiresIn": 60}),
    ("POST /admin/users/:id/role", {"role": "admin"}),
    ("POST /auth/api-key/create", {"name": "ci", "expiresIn": 3600, "permissions": {"files": ["read"]}, "metadata": {"a": "b"}}),
    ("POST /auth/api-key/update", {"keyId": "x", "enabled": False}),
    ("POST /auth/api-key/verify", {"key": "kv_abc"}),
    ("POST /auth/sign-in/username", {"username": "fuzzy", "password": "correct horse battery"}),
    ("POST /auth/is-username-available", {"username": "Fuzzy_1"}),
    ("POST /auth/sign-in/anonymous", {}),
    ("POST /auth/unlink-account", {"providerId": "github"}),
    ("POST /auth/delete-anonymous-user", {}),
]
for i, (line, body) in enumerate(bodies):
    name = line.split(" ", 1)[1].strip("/").replace("/", "_").replace(":", "") or "root"
    put("route_bodies", f"{i:02}-{line.split()[0].lower()}-{name}", line + "\n" + ("" if body is None else J(body)))
put("route_bodies", "bad-json", "POST /agents\n{\"name\": [")
put("route_bodies", "not-object", "POST /agents\n[1,2,3]")
put("route_bodies", "deep", "POST /authorize\n" + "[" * 300 + "]" * 300)

# ---- http_request: the same text form, no database ---------------------------------------
reqs = {
    "cookies": "GET /x\nCookie: a=1; b=\"2\"; kavach_session=tok\ncookie: c=3;;d\nCOOKIE: =e",
    "bearer": "GET /x\nAuthorization: Bearer   abc  ",
    "bearer-agent": "GET /x\nauthorization: BEARER kv_abcdef",
    "bearer-empty": "GET /x\nauthorization: Bearer ",
    "basic": "GET /x\nauthorization: Basic dXNlcjpwYXNz",
    "query": "GET /x?a=1&b=%ZZ&c=%E2%82%AC&&=&d+e=f+g",
    "json": "POST /x\ncontent-type: Application/JSON; charset=utf-8\n\n{\"a\":[1,2.5e3,null,true,\"\\u00e9\"]}",
    "json-bad": "POST /x\ncontent-type: application/json\n\n{\"a\":",
    "json-wrong-type": "POST /x\ncontent-type: text/json\n\n{}",
    "no-type": "POST /x\n\n{}",
    "mount": "GET /x\n: mount /api/auth?x\n: ip ::1\n: url-origin https://a.example",
    "mount-control": "GET /x\n: mount /a\x01b",
    "utf8-cookie": "GET /x\ncookie: kavach_session=\u00e9\u00e9; \u00ff=\u00fe",
}
for k, v in reqs.items():
    put("http_request", k, v)

# ---- tokens: cookie line, authorization line, agent token line ------------------------------
toks = {
    "live-session": "kavach_session={session}\nBearer {agentToken}\n{agentToken}",
    "bearer-session": "a=b\nBearer {session}\nkv_",
    "quoted": "kavach_session=\"{session}\"\n\nkv_" + "A" * 43,
    "empty": "\n\n",
    "long": "kavach_session=" + "x" * 600 + "\nBearer " + "y" * 300 + "\nkv_" + "z" * 300,
    "agent-as-session": "kavach_session={agentToken}\nbearer {agentToken}\n{agentToken} ",
    "hash-shaped": "kavach_session=" + hashlib.sha256(b"x").hexdigest() + "\nBearer " + hashlib.sha256(b"y").hexdigest() + "\nkv_" + hashlib.sha256(b"z").hexdigest(),
    "sql": "kavach_session=' OR 1=1 --\nBearer \" OR \"\"=\"\nkv_'; DROP TABLE kavach_agent; --",
    "nul": "kavach_session=a\x00b\nBearer \x00\nkv_\x00",
    "better-auth-cookie": "better-auth.session_token=abc.def; kavach_session=\nBearer x.y.z\nkv_abc",
}
for k, v in toks.items():
    put("tokens", k, v)

# ---- permissions ---------------------------------------------------------------------------
perm_cases = {
    "wildcard": {"permissions": [{"resource": "*", "actions": ["*"]}], "request": {"action": "read", "resource": "a:b"}},
    "trailing-star": {"permissions": [{"resource": "mcp:github:*", "actions": ["read", "write"]}], "request": {"action": "write", "resource": "mcp:github:repo:issues"}},
    "middle-star": {"permissions": [{"resource": "files:*:meta", "actions": ["read"]}], "request": {"action": "read", "resource": "files::meta"}},
    "time-window": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"timeWindow": {"start": "22:00", "end": "06:00"}}}], "request": {"action": "a", "resource": "x"}, "now": 1767312000000},
    "bad-window": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"timeWindow": {"start": "24:00", "end": "6:0"}}}], "request": {"action": "a", "resource": "x"}},
    "ip": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"ipAllowlist": ["10.0.0.0/8", "::1", "2001:db8::/32", "1.2.3.4"]}}], "request": {"action": "a", "resource": "x", "ip": "::ffff:10.9.9.9"}},
    "ip-bad": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"ipAllowlist": ["10.0.0.0/33", "nope"]}}], "request": {"action": "a", "resource": "x", "ip": "999.1.1.1"}},
    "args": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"allowedArgPatterns": ["^[a-z]+$", "(a+)+$"]}}], "request": {"action": "a", "resource": "x", "arguments": {"q": ["abc", {"d": "EFG"}], "n": 1}}},
    "args-bad-regex": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"allowedArgPatterns": ["(", "a{99999999}"]}}], "request": {"action": "a", "resource": "x"}},
    "rate": {"permissions": [{"resource": "x:*", "actions": ["a"], "constraints": {"maxCallsPerHour": 3}}, {"resource": "x:y", "actions": ["a"], "constraints": {"maxCallsPerHour": 0}}], "request": {"action": "a", "resource": "x:y"}},
    "approval": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"requireApproval": True}}], "request": {"action": "a", "resource": "x"}},
    "trust": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"minTrust": 50}}], "request": {"action": "a", "resource": "x"}, "trust": 49},
    "unknown-field": {"permissions": [{"resource": "x", "actions": ["a"], "constraints": {"maxCalls": 1}}], "request": {"action": "a", "resource": "x"}},
    "empty-segment": {"permissions": [{"resource": "a::b", "actions": ["a"]}, {"resource": ":", "actions": []}], "request": {"action": "", "resource": ""}},
    "many": {"permissions": [{"resource": f"r{i}:*", "actions": ["a"]} for i in range(40)], "request": {"action": "a", "resource": "r3:x"}},
}
for k, v in perm_cases.items():
    put("permissions", k, J(v))

# ---- clerk_export ----------------------------------------------------------------------------
hdr = "id,first_name,last_name,username,primary_email_address,primary_phone_number,verified_email_addresses,unverified_email_addresses,verified_phone_numbers,unverified_phone_numbers,totp_secret,password_digest,password_hasher\n"
clerk = {
    "csv": hdr + "user_1,Ada,Lovelace,,ada@example.com,,ada@example.com,,,,,$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy,bcrypt\n",
    "csv-quoted": hdr + "user_2,\"Grace \"\"G\"\"\",\"Hop,per\",,g@example.com,,\"g@example.com|h@example.com\",,,,,,\r\n",
    "csv-bom": "\ufeff" + hdr + "user_3,,,,x@example.com,,,x@example.com,,,,,\n\n",
    "csv-truncated": hdr + "user_4,\"open",
    "csv-short-row": hdr + "user_5,a\n",
    "csv-after-quote": hdr + "user_6,\"a\"b,,,,,,,,,,,\n",
    "csv-not-clerk": "email,name\na@x,b\n",
    "csv-no-id": hdr + ",,,,y@example.com,,,,,,,,\n",
    "json": J([{"id": "user_7", "firstName": "A", "lastName": "B", "imageUrl": "https://img", "primaryEmailAddressId": "e2", "emailAddresses": [{"id": "e1", "emailAddress": "a@example.com"}, {"id": "e2", "emailAddress": "b@example.com", "verification": {"status": "verified"}}], "externalAccounts": [{"id": "ea", "provider": "oauth_google", "providerUserId": "123"}], "createdAt": 1700000000000, "updatedAt": 1700000000001}]),
    "json-raw": J([{"_raw": {"id": "user_8", "primary_email_address_id": "e", "email_addresses": [{"id": "e", "email_address": "r@example.com", "verification": {"status": "unverified"}}], "external_accounts": [{"strategy": "oauth_github", "external_id": 9}], "created_at": -1}}]),
    "json-no-id": J([{"firstName": "x"}]),
    "json-trailing": "  [ ] x",
    "json-truncated": "[{\"id\":\"u\",",
    "json-not-objects": "[1, \"a\", null, [], {\"id\": \"\"}]",
    "empty": "   \n\t ",
}
for k, v in clerk.items():
    put("clerk_export", k, v)

# ---- better_auth_rows ------------------------------------------------------------------------
ENC = "6d8579dbc8e9fdd220d76305d3f47721f8dcc3ecbf2d9c9536c32cb0a9731a4cccb9adaf1d7baa340e27de5924dd39862b24348a6c44e6067c79b583992767eef8dba22f6c3847dc"
SCRYPT = "a1b2c3d4e5f60718293a4b5c6d7e8f90:" + "0" * 128
def ba(camel=True, user_rows=None, extra=None, types=None):
    t = types or {}
    c = (lambda a, b: a) if camel else (lambda a, b: b)
    out = {
        "user": {"columns": [["id", "text"], ["email", "text"], ["name", "text"], [c("emailVerified", "email_verified"), t.get("bool", "integer")], ["image", "text"], [c("createdAt", "created_at"), t.get("time", "date")], [c("updatedAt", "updated_at"), t.get("time", "date")]],
                 "rows": user_rows or [["u1", "A@Example.com", "Ada", 1, None, "2024-01-02T03:04:05.000Z", 1700000000], ["u2", "b@example.com", " ", "true", "", 1700000000000, None]]},
        "account": {"columns": [["id", "text"], [c("userId", "user_id"), "text"], [c("providerId", "provider_id"), "text"], [c("accountId", "account_id"), "text"], ["password", "text"], [c("accessToken", "access_token"), "text"], [c("refreshToken", "refresh_token"), "text"], [c("idToken", "id_token"), "text"], [c("accessTokenExpiresAt", "access_token_expires_at"), "date"], [c("createdAt", "created_at"), "date"], [c("updatedAt", "updated_at"), "date"]],
                    "rows": [["a1", "u1", "credential", "u1", SCRYPT, None, None, None, None, None, None], ["a2", "u1", "github", "99", None, ENC, "$ba$1$" + ENC, "eyJ", 1800000000000, "x", "y"], ["a3", "u2", "credential", "u2", "pbkdf2:1000:00:00", "abcd", None, None, None, None, None]]},
        "session": {"columns": [["id", "text"], [c("userId", "user_id"), "text"], ["token", "text"], [c("expiresAt", "expires_at"), "date"], [c("ipAddress", "ip_address"), "text"], [c("userAgent", "user_agent"), "text"], [c("createdAt", "created_at"), "date"], [c("updatedAt", "updated_at"), "date"], [c("activeOrganizationId", "active_organization_id"), "text"]],
                    "rows": [["s1", "u1", "tok1", "2099-01-01T00:00:00Z", "::1", "ua", None, None, "o1"], ["s2", "u2", "0" * 64, 4102444800, None, None, None, None, None]]},
    }
    if extra:
        out.update(extra)
    return out
ORG = {
    "organization": {"columns": [["id", "text"], ["name", "text"], ["slug", "text"], ["metadata", "text"], ["logo", "text"], ["createdAt", "date"]], "rows": [["o1", "Acme", "acme", "{\"a\":1}", "data:x", None], ["o2", "", "acme", "[1]", None, 0]]},
    "member": {"columns": [["id", "text"], ["organizationId", "text"], ["userId", "text"], ["role", "text"], ["createdAt", "date"]], "rows": [["m1", "o1", "u1", "admin,owner", None], ["m2", "o1", "u2", " , ", None], ["m3", "o2", "u9", "member", None]]},
    "invitation": {"columns": [["id", "text"], ["organizationId", "text"], ["email", "text"], ["role", "text"], ["status", "text"], ["expiresAt", "date"], ["inviterId", "text"], ["createdAt", "date"]], "rows": [["i1", "o1", "c@example.com", "member", "pending", "2099-01-01", "u1", None], ["i2", "o1", "bad", None, "accepted", -5, None, None]]},
    "twoFactor": {"columns": [["id", "text"], ["userId", "text"], ["secret", "text"], ["backupCodes", "text"], ["verified", "boolean"]], "rows": [["t1", "u1", ENC, ENC, 1], ["t2", "u2", "plain", "[\"ABCDE-12345\",\"x\"]", 0]]},
}
put("better_auth_rows", "camel", J(ba()))
put("better_auth_rows", "snake", J(ba(camel=False)))
put("better_auth_rows", "orgs", J(ba(extra=ORG)))
put("better_auth_rows", "integer-times", J(ba(types={"time": "bigint", "bool": "boolean"})))
put("better_auth_rows", "odd-values", J(ba(user_rows=[[1, "x@example.com", {"hex": "00ff"}, 2.5, [1], 9223372036854775807, -9223372036854775807], [None, None, None, None, None, None, None], ["u3", "not an email", "n" * 300, "yes", None, "not a date", "2024-13-45"]])))
put("better_auth_rows", "real-times", J(ba(types={"time": "real"}, user_rows=[["u1", "r@example.com", None, 0, None, 1.7e12, 1e300]])))
put("better_auth_rows", "missing-column", J({"user": {"columns": [["id", "text"]], "rows": [["u"]]}, "account": {"columns": [["id", "text"]], "rows": []}, "session": {"columns": [["id", "text"]], "rows": []}}))
put("better_auth_rows", "plural", J({("users" if k == "user" else k + "s"): v for k, v in ba().items()}))
put("better_auth_rows", "empty", "{}")
put("better_auth_rows", "quotes", J(ba(extra={"we\"ird`table": {"columns": [["c\"ol", "te\"xt"]], "rows": [["v"]]}})))

# ---- password_hashes: password line, stored hash -----------------------------------------
pw = {
    "pbkdf2": "pw\npbkdf2:1000:000102030405060708090a0b0c0d0e0f:" + "00" * 32,
    "pbkdf2-short-salt": "pw\npbkdf2:1000:00:" + "ab" * 16,
    "pbkdf2-zero": "pw\npbkdf2:0:00:00",
    "pbkdf2-extra": "pw\npbkdf2:1:2:3:4",
    "pbkdf2-odd-hex": "pw\npbkdf2:10:abc:def",
    "pbkdf2-long-key": "pw\npbkdf2:10:00:" + "00" * 65,
    "bcrypt": "password\n$2a$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
    "bcrypt-2b": "\n$2b$04$" + "a" * 53,
    "bcrypt-2y-bad": "x\n$2y$4$short",
    "bcrypt-cost-31": "x\n$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
    "scrypt": "pw\n" + SCRYPT,
    "scrypt-upper": "pw\n" + SCRYPT.upper(),
    "scrypt-long-salt": "pw\n" + "a" * 129 + ":" + "0" * 128,
    "ba-encrypted": "better-auth-secret-better-auth-secret-42\n" + ENC,
    "ba-envelope": "better-auth-secret-better-auth-secret-42\n$ba$2$" + ENC,
    "ba-envelope-bad": "s\n$ba$x$00",
    "unicode": "\u00c5ngstr\u00f6m \ufb01\n" + SCRYPT,
    "argon2": "pw\n$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    "empty": "",
}
for k, v in pw.items():
    put("password_hashes", k, v)
