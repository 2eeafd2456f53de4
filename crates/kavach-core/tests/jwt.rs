//! The jwt plugin: issue, verify, JWKS and rotation on every backend (exact expiry with a manual
//! clock), concurrent instances, and the attacks verification must refuse.

mod common;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use kavach_core::accounts::human::{ClientInfo, SignUp};
use kavach_core::callbacks::{Callbacks, JwtClaims};
use kavach_core::http::HttpRequest;
use kavach_core::{BoxFut, Kavach, KavachConfig, ManualClock};
use serde_json::{json, Value};

fn jwt_config(backend: &str, url: &str, options: Value) -> KavachConfig {
    config(
        backend,
        url,
        json!({
            "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 1000 },
            "plugins": [{ "id": "jwt", "options": options }],
        }),
    )
}

/// A `customClaims` that records what it receives and answers a fixed value (or fails).
#[derive(Default)]
struct Claims {
    seen: parking_lot::Mutex<Vec<Value>>,
    answer: Option<Value>,
}

impl JwtClaims for Claims {
    fn claims(&self, input: Value) -> BoxFut<'static, kavach_core::Result<Value>> {
        self.seen.lock().push(input);
        let answer = self.answer.clone();
        Box::pin(async move {
            answer.ok_or_else(|| kavach_core::KavachError::Internal("the callback threw".into()))
        })
    }
}

fn with_claims(c: Arc<Claims>) -> Callbacks {
    Callbacks {
        jwt_claims: Some(c),
        ..Default::default()
    }
}

async fn session_for(k: &Kavach, email: &str) -> (String, String) {
    let signed = k
        .sign_up(
            SignUp {
                email: email.into(),
                password: "correct horse battery".into(),
                name: Some("Ada".into()),
                image: None,
                extra: Default::default(),
            },
            ClientInfo {
                ip: None,
                user_agent: None,
                origin: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{}", explain(&e)));
    (signed.token.unwrap(), signed.user.id)
}

fn part(token: &str, i: usize) -> Value {
    let seg = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
}

fn with_payload(token: &str, payload: &Value) -> String {
    let mut it = token.split('.');
    let (h, _, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    format!(
        "{h}.{}.{s}",
        URL_SAFE_NO_PAD.encode(payload.to_string().as_bytes())
    )
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn code(r: kavach_core::Result<impl std::fmt::Debug>) -> &'static str {
    r.unwrap_err().code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_verify_and_rotate_on_every_backend() {
    for backend in backends() {
        let clock = ManualClock::new(NOON);
        let url = fresh_url(backend, "jwt").await;
        let cfg = jwt_config(
            backend,
            &url,
            json!({ "expiresIn": 600, "issuer": "https://auth.example", "audience": "api" }),
        );
        let claims = Arc::new(Claims {
            answer: Some(json!({ "role": "admin", "org": { "id": "o1" } })),
            ..Default::default()
        });
        let k = Kavach::open_with(&cfg, None, clock.clone(), with_claims(claims.clone()))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        let ctx = |e: kavach_core::KavachError| format!("{backend}: {}", explain(&e));
        let (session_token, user_id) = session_for(&k, "ada@example.com").await;

        let jwt = k
            .jwt_issue_for_session_token(&session_token)
            .await
            .map_err(ctx)
            .unwrap();
        let (header, payload) = (part(&jwt, 0), part(&jwt, 1));
        let jwks = k.jwt_jwks().await.map_err(ctx).unwrap();
        let kid1 = kids(&jwks)[0].clone();
        assert_eq!(kids(&jwks).len(), 1, "{backend}");
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], kid1.as_str());
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(payload["iss"], "https://auth.example");
        assert_eq!(payload["sub"], user_id.as_str());
        assert_eq!(payload["aud"], "api");
        assert_eq!(payload["iat"], NOON / 1000);
        assert_eq!(payload["exp"], NOON / 1000 + 600);
        assert_eq!(payload["email"], "ada@example.com");
        assert_eq!(payload["role"], "admin");
        assert_eq!(payload["org"]["id"], "o1");
        assert!(payload["jti"].as_str().is_some_and(|j| j.len() >= 16));
        // customClaims received the session and its user.
        let seen = claims.seen.lock()[0].clone();
        assert_eq!(payload["sid"], seen["session"]["id"]);
        assert_eq!(seen["user"]["id"], user_id.as_str());
        assert_eq!(seen["user"]["email"], "ada@example.com");
        assert!(seen["session"].get("token").is_none());

        let verified = k.jwt_verify(&jwt).await.map_err(ctx).unwrap();
        assert_eq!(verified, payload);
        let mut forged = payload.clone();
        forged["sub"] = json!("someone-else");
        assert_eq!(
            code(k.jwt_verify(&with_payload(&jwt, &forged)).await),
            "INVALID_TOKEN"
        );
        assert_eq!(
            code(k.jwt_issue_for_session_token("nope").await),
            "UNAUTHORIZED"
        );

        // Rotation: the old key keeps verifying its tokens; new tokens carry the new kid.
        let kid2 = k.jwt_rotate_keys().await.map_err(ctx).unwrap();
        assert_ne!(kid1, kid2);
        assert_eq!(
            kids(&k.jwt_jwks().await.unwrap()),
            vec![kid2.clone(), kid1.clone()]
        );
        assert!(k.jwt_verify(&jwt).await.is_ok(), "{backend}");
        let jwt2 = k.jwt_issue_for_session_token(&session_token).await.unwrap();
        assert_eq!(part(&jwt2, 0)["kid"], kid2.as_str());

        // A second instance on the same database trusts the same keys.
        let other = Kavach::open_with(&cfg, None, clock.clone(), with_claims(claims.clone()))
            .await
            .unwrap();
        assert!(other.jwt_verify(&jwt).await.is_ok());
        assert!(other.jwt_verify(&jwt2).await.is_ok());

        // Expiry is exact on the instance clock.
        clock.set(NOON + 599_999);
        assert!(k.jwt_verify(&jwt).await.is_ok());
        clock.set(NOON + 600_000);
        assert_eq!(code(k.jwt_verify(&jwt).await), "TOKEN_EXPIRED");
        // The retired key is published for expiresIn + 60 s after its retirement, then dropped.
        clock.set(NOON + 659_999);
        assert_eq!(
            k.jwt_jwks().await.unwrap()["keys"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        clock.set(NOON + 660_000);
        assert_eq!(kids(&k.jwt_jwks().await.unwrap()), vec![kid2.clone()]);
        assert_eq!(code(k.jwt_verify(&jwt).await), "INVALID_TOKEN");
        // A later rotation prunes it from the table too.
        let kid3 = k.jwt_rotate_keys().await.unwrap();
        assert_eq!(kids(&k.jwt_jwks().await.unwrap()), vec![kid3, kid2]);

        other.close().await;
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_instances_share_one_active_key_on_every_backend() {
    for backend in backends() {
        let clock = ManualClock::new(NOON);
        let url = fresh_url(backend, "jwtrace").await;
        let cfg = jwt_config(backend, &url, json!({}));
        let a = Kavach::open_with_clock(&cfg, None, clock.clone())
            .await
            .unwrap();
        let b = Kavach::open_with_clock(&cfg, None, clock.clone())
            .await
            .unwrap();
        let (ja, jb) = tokio::join!(a.jwt_jwks(), b.jwt_jwks());
        let (ja, jb) = (
            ja.unwrap_or_else(|e| panic!("{backend}: {}", explain(&e))),
            jb.unwrap_or_else(|e| panic!("{backend}: {}", explain(&e))),
        );
        assert_eq!(kids(&ja).len(), 1, "{backend}: one first key");
        assert_eq!(kids(&ja), kids(&jb), "{backend}");
        let (ra, rb) = tokio::join!(a.jwt_rotate_keys(), b.jwt_rotate_keys());
        let (ra, rb) = (
            ra.unwrap_or_else(|e| panic!("{backend}: {}", explain(&e))),
            rb.unwrap_or_else(|e| panic!("{backend}: {}", explain(&e))),
        );
        assert_ne!(ra, rb);
        let after = kids(&a.jwt_jwks().await.unwrap());
        assert_eq!(after.len(), 3, "{backend}: the first key and two rotations");
        assert_eq!(after, kids(&b.jwt_jwks().await.unwrap()));
        let (token, _) = session_for(&a, "race@example.com").await;
        let ta = a.jwt_issue_for_session_token(&token).await.unwrap();
        let tb = b.jwt_issue_for_session_token(&token).await.unwrap();
        assert_eq!(
            part(&ta, 0)["kid"],
            part(&tb, 0)["kid"],
            "{backend}: one active key"
        );
        assert_eq!(part(&ta, 0)["kid"], after[0].as_str());
        a.close().await;
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused() {
    let clock = ManualClock::new(NOON);
    for alg in ["EdDSA", "RS256"] {
        let url = fresh_url("sqlite", "jwtatk").await;
        let cfg = jwt_config("sqlite", &url, json!({ "algorithm": alg }));
        let k = Kavach::open_with_clock(&cfg, None, clock.clone())
            .await
            .unwrap();
        let (session_token, _) = session_for(&k, "eve@example.com").await;
        let jwt = k.jwt_issue_for_session_token(&session_token).await.unwrap();
        assert_eq!(part(&jwt, 0)["alg"], alg);
        assert!(k.jwt_verify(&jwt).await.is_ok());
        let jwk = k.jwt_jwks().await.unwrap()["keys"][0].clone();
        let kid = jwk["kid"].as_str().unwrap().to_owned();
        let payload = part(&jwt, 1);

        // A flipped signature byte.
        let mut bad_sig = jwt.clone();
        let last = bad_sig.pop().unwrap();
        bad_sig.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(code(k.jwt_verify(&bad_sig).await), "INVALID_TOKEN");

        // HS256 keyed with the public key (the classic RS/HS confusion), in several encodings.
        let raw = if alg == "EdDSA" { "x" } else { "n" };
        let public_bytes = URL_SAFE_NO_PAD.decode(jwk[raw].as_str().unwrap()).unwrap();
        for secret in [public_bytes, jwk.to_string().into_bytes()] {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            h.kid = Some(kid.clone());
            let hs = jsonwebtoken::encode(
                &h,
                &payload,
                &jsonwebtoken::EncodingKey::from_secret(&secret),
            )
            .unwrap();
            assert_eq!(code(k.jwt_verify(&hs).await), "INVALID_TOKEN", "{alg}");
        }

        // alg: none, with and without a signature part.
        let none_header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
        let body = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(none_header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        for t in [
            format!("{body}."),
            body.clone(),
            format!("{body}.{}", jwt.split('.').nth(2).unwrap()),
        ] {
            assert_eq!(code(k.jwt_verify(&t).await), "INVALID_TOKEN");
        }

        // A kid we never made: a token of another kavachos instance (another database).
        let foreign_url = fresh_url("sqlite", "jwtforeign").await;
        let foreign = Kavach::open_with_clock(
            &jwt_config("sqlite", &foreign_url, json!({ "algorithm": alg })),
            None,
            clock.clone(),
        )
        .await
        .unwrap();
        let (ft, _) = session_for(&foreign, "eve@example.com").await;
        let foreign_jwt = foreign.jwt_issue_for_session_token(&ft).await.unwrap();
        assert_eq!(code(k.jwt_verify(&foreign_jwt).await), "INVALID_TOKEN");
        foreign.close().await;

        // Garbage in every shape.
        for t in ["", "a.b", "a.b.c", "....", &"x".repeat(20_000)] {
            assert_eq!(code(k.jwt_verify(t).await), "INVALID_TOKEN");
        }

        // Same keys, another issuer or audience: refused.
        let strict = Kavach::open_with_clock(
            &jwt_config(
                "sqlite",
                &url,
                json!({ "algorithm": alg, "audience": ["mobile", "web"] }),
            ),
            None,
            clock.clone(),
        )
        .await
        .unwrap();
        assert_eq!(code(strict.jwt_verify(&jwt).await), "INVALID_TOKEN");
        let with_aud = strict
            .jwt_issue_for_session_token(&session_token)
            .await
            .unwrap();
        assert_eq!(part(&with_aud, 1)["aud"], json!(["mobile", "web"]));
        assert!(strict.jwt_verify(&with_aud).await.is_ok());
        strict.close().await;
        let renamed = Kavach::open_with_clock(
            &jwt_config(
                "sqlite",
                &url,
                json!({ "algorithm": alg, "issuer": "someone-else" }),
            ),
            None,
            clock.clone(),
        )
        .await
        .unwrap();
        assert_eq!(code(renamed.jwt_verify(&jwt).await), "INVALID_TOKEN");
        renamed.close().await;
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_algorithm_rotates_and_old_tokens_still_verify() {
    let clock = ManualClock::new(NOON);
    let url = fresh_url("sqlite", "jwtalg").await;
    let ed = Kavach::open_with_clock(&jwt_config("sqlite", &url, json!({})), None, clock.clone())
        .await
        .unwrap();
    let (token, _) = session_for(&ed, "alg@example.com").await;
    let old = ed.jwt_issue_for_session_token(&token).await.unwrap();
    ed.close().await;
    let rs = Kavach::open_with_clock(
        &jwt_config("sqlite", &url, json!({ "algorithm": "RS256" })),
        None,
        clock.clone(),
    )
    .await
    .unwrap();
    let new = rs.jwt_issue_for_session_token(&token).await.unwrap();
    assert_eq!(part(&new, 0)["alg"], "RS256");
    let jwks = rs.jwt_jwks().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][1]["kty"], "OKP");
    assert!(rs.jwt_verify(&old).await.is_ok());
    assert!(rs.jwt_verify(&new).await.is_ok());
    rs.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_claims_failures_issue_no_token() {
    let clock = ManualClock::new(NOON);
    let url = fresh_url("sqlite", "jwtclaims").await;
    let cfg = jwt_config("sqlite", &url, json!({}));
    let cases: [(Option<Value>, &str); 5] = [
        (None, "JWT_CLAIMS_FAILED"),
        (Some(json!(["role"])), "JWT_CLAIMS_INVALID"),
        (Some(json!("admin")), "JWT_CLAIMS_INVALID"),
        (Some(json!(null)), "JWT_CLAIMS_INVALID"),
        (
            Some(json!({ "role": "x", "sub": "admin-user" })),
            "JWT_CLAIMS_INVALID",
        ),
    ];
    for (i, (answer, expected)) in cases.into_iter().enumerate() {
        let c = Arc::new(Claims {
            answer,
            ..Default::default()
        });
        let k = Kavach::open_with(&cfg, None, clock.clone(), with_claims(c))
            .await
            .unwrap();
        let (token, _) = session_for(&k, &format!("c{i}@example.com")).await;
        assert_eq!(code(k.jwt_issue_for_session_token(&token).await), expected);
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_exist_only_with_the_plugin() {
    let clock = ManualClock::new(NOON);
    let url = fresh_url("sqlite", "jwthttp").await;
    let get = |path: &str, cookie: Option<String>| HttpRequest {
        method: "GET".into(),
        path: path.into(),
        headers: cookie
            .map(|c| vec![("cookie".into(), c)])
            .unwrap_or_default(),
        ..Default::default()
    };
    let k = Kavach::open_with_clock(&jwt_config("sqlite", &url, json!({})), None, clock.clone())
        .await
        .unwrap();
    let r = k.handle(get("/jwks", None)).await;
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .iter()
        .any(|(n, v)| n == "cache-control" && v == "public, max-age=300"));
    let jwks: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(kids(&jwks).len(), 1);
    assert_eq!(k.handle(get("/jwt/token", None)).await.status, 401);
    let post = HttpRequest {
        method: "POST".into(),
        ..get("/jwks", None)
    };
    assert_eq!(k.handle(post.clone()).await.status, 405);
    let (token, _) = session_for(&k, "http@example.com").await;
    let r = k
        .handle(get("/jwt/token", Some(format!("kavach_session={token}"))))
        .await;
    assert_eq!(r.status, 200);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(k.jwt_verify(body["token"].as_str().unwrap()).await.is_ok());
    k.close().await;

    let off = Kavach::open_with_clock(
        &config(
            "sqlite",
            &url,
            json!({ "emailAndPassword": { "enabled": true } }),
        ),
        None,
        clock,
    )
    .await
    .unwrap();
    assert_eq!(off.handle(get("/jwks", None)).await.status, 404);
    assert_eq!(off.handle(get("/jwt/token", None)).await.status, 404);
    assert_eq!(off.handle(post).await.status, 404);
    assert_eq!(code(off.jwt_jwks().await), "CONFIG_INVALID");
    off.close().await;
}
