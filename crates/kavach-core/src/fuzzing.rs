//! Entry points for the fuzz targets (`fuzz/` at the repository root): the private parsers, reached
//! exactly as the library reaches them. Not an API: hidden from the docs, no stability promise.

use crate::http::HttpRequest;
use crate::import::clerk::ClerkUser;
use crate::kavach::Kavach;

/// The value of cookie `name` as the session lookup reads it.
pub fn request_cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.cookie(name)
}

/// The query string as the handlers read it (or the 4xx code that refuses it).
pub fn request_query(req: &HttpRequest) -> Result<Vec<(String, String)>, (u16, &'static str)> {
    req.query_map().map_err(|e| (e.status, e.code))
}

/// A request body read as the route bodies are (JSON only, size and media type checked first).
pub fn request_json(req: &HttpRequest) -> Result<serde_json::Value, (u16, &'static str)> {
    crate::http::parse_body::<serde_json::Value>(req).map_err(|e| (e.status, e.code))
}

/// Whether a bearer value is shaped like an agent token worth a lookup.
pub fn plausible_agent_token(token: &str) -> bool {
    crate::kavach::plausible_token(token)
}

/// `(method, pattern)` of every route `kavach` serves.
pub fn routes(kavach: &Kavach) -> Vec<(&'static str, &'static str)> {
    kavach.route_table()
}

/// A Clerk export (CSV or JSON array) as `kavach-cli import clerk` reads it.
pub fn clerk_export(
    input: &[u8],
    sink: &mut dyn FnMut(ClerkUser) -> crate::Result<()>,
) -> crate::Result<u64> {
    crate::import::clerk::parse_reader(input, sink)
}

/// better-auth's `symmetricEncrypt` opened with `secret` (its TOTP secrets, backup codes, tokens).
pub fn better_auth_open(secret: &str, value: &str) -> Option<String> {
    crate::import::ba_crypto::open(secret, value)
}

/// Whether better-auth would take `value` for ciphertext, and whether it is its versioned envelope.
pub fn better_auth_looks_encrypted(value: &str) -> (bool, bool) {
    (
        crate::import::ba_crypto::looks_encrypted(value),
        crate::import::ba_crypto::is_envelope(value),
    )
}

/// Whether the better-auth importer counts `hash` as a password hash kavachos verifies.
pub fn better_auth_known_hash(hash: &str) -> bool {
    crate::import::better_auth::is_known_hash(hash)
}
