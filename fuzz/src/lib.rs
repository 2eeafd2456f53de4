//! What the fuzz targets share: one booted kavachos (SQLite, with the plugins that boot without a
//! JS callback), a signed-in user with an agent (made again whenever an input signed them out or
//! revoked it), and the text form of a request the seeds of the HTTP targets are written in.

use std::sync::{Arc, Mutex, OnceLock};

use kavach_core::http::{HttpRequest, HttpResponse};
use kavach_core::{Kavach, KavachConfig, KavachError};
use serde_json::{json, Value};

/// The `baseUrl` (and so the only allowed `Origin`).
pub const ORIGIN: &str = "http://localhost:3000";
pub const COOKIE: &str = "kavach_session";
pub const PASSWORD: &str = "correct horse battery";

/// A signed-in user and one of their agents.
#[derive(Clone, Default)]
pub struct Actor {
    pub session: String,
    pub user_id: String,
    pub agent_id: String,
    pub agent_token: String,
}

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub kavach: Arc<Kavach>,
    actor: Mutex<Actor>,
    serial: Mutex<u64>,
}

/// The shared instance, booted on first use.
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(boot)
}

fn config() -> KavachConfig {
    let v = json!({
        "database": { "provider": "sqlite", "url": ":memory:" },
        "secret": "fuzz-secret-fuzz-secret-fuzz-secret-0123",
        "baseUrl": ORIGIN,
        "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 1000 },
        "rateLimit": { "enabled": false },
        "plugins": [
            { "id": "organization", "options": {} },
            { "id": "two-factor", "options": {} },
            { "id": "admin", "options": {} },
            { "id": "jwt", "options": {} },
            { "id": "api-key", "options": {} },
            { "id": "username", "options": {} },
            { "id": "anonymous", "options": {} },
        ],
    });
    match KavachConfig::from_json(&v.to_string()) {
        Ok(c) => c,
        Err(e) => panic!("fuzz config: {e}"),
    }
}

fn boot() -> Harness {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio: {e}"),
    };
    let kavach = match rt.block_on(Kavach::open(&config(), Some("development"))) {
        Ok(k) => k,
        Err(e) => panic!("boot: {e} [{}]", e.code()),
    };
    let h = Harness {
        rt,
        kavach,
        actor: Mutex::new(Actor::default()),
        serial: Mutex::new(0),
    };
    h.refresh_actor();
    h
}

fn body_json(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

impl Harness {
    /// Answers one request on the shared runtime.
    pub fn handle(&self, req: HttpRequest) -> HttpResponse {
        self.rt.block_on(self.kavach.handle(req))
    }

    /// The actor, signed up again (a new user and agent) when an earlier input signed them out,
    /// changed their password or revoked the agent.
    pub fn actor(&self) -> Actor {
        let current = self.actor.lock().map(|a| a.clone()).unwrap_or_default();
        let live = self.rt.block_on(async {
            let session = self.kavach.get_session(&current.session).await;
            let agent = self.kavach.get_agent(&current.agent_id).await;
            matches!(session, Ok(Some(_))) && matches!(agent, Ok(Some(a)) if a.status == "active")
        });
        if live {
            current
        } else {
            self.refresh_actor()
        }
    }

    fn refresh_actor(&self) -> Actor {
        let n = {
            let mut s = self.serial.lock().unwrap_or_else(|e| e.into_inner());
            *s += 1;
            *s
        };
        let up = self.handle(json_request(
            "POST",
            "/auth/sign-up",
            None,
            &json!({ "email": format!("fuzz{n}@example.com"), "password": PASSWORD, "name": "Fuzz" }),
        ));
        assert_eq!(
            up.status,
            200,
            "sign-up: {}",
            String::from_utf8_lossy(&up.body)
        );
        let session = up
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(&format!("{COOKIE}=")))
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .to_owned();
        let user_id = body_json(&up)["user"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let agent = self.handle(json_request(
            "POST",
            "/agents",
            Some(&session),
            &json!({
                "name": "fuzz agent",
                "type": "autonomous",
                "permissions": [
                    { "resource": "*", "actions": ["read"] },
                    { "resource": "mcp:github:*", "actions": ["*"], "constraints": { "maxCallsPerHour": 1000 } },
                ],
            }),
        ));
        assert_eq!(
            agent.status,
            200,
            "create agent: {}",
            String::from_utf8_lossy(&agent.body)
        );
        let a = body_json(&agent);
        let actor = Actor {
            session,
            user_id,
            agent_id: a["id"].as_str().unwrap_or_default().to_owned(),
            agent_token: a["token"].as_str().unwrap_or_default().to_owned(),
        };
        assert!(
            !actor.session.is_empty() && !actor.agent_token.is_empty(),
            "actor: {a}"
        );
        if let Ok(mut slot) = self.actor.lock() {
            *slot = actor.clone();
        }
        actor
    }
}

/// A JSON request from the allowed Origin, with the session cookie when given.
pub fn json_request(method: &str, path: &str, session: Option<&str>, body: &Value) -> HttpRequest {
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("origin".to_owned(), ORIGIN.to_owned()),
    ];
    if let Some(s) = session {
        headers.push(("cookie".to_owned(), format!("{COOKIE}={s}")));
    }
    HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body: body.to_string().into_bytes(),
        ..Default::default()
    }
}

/// Replaces the placeholders seeds use for what only exists at run time.
pub fn substitute(text: &str, actor: &Actor) -> String {
    text.replace("{session}", &actor.session)
        .replace("{agentToken}", &actor.agent_token)
        .replace("{agentId}", &actor.agent_id)
        .replace("{userId}", &actor.user_id)
        .replace("{origin}", ORIGIN)
}

/// Reads the seeds' text form of a request:
///
/// ```text
/// METHOD /path?query
/// name: value          (repeatable; `:ip`, `:mount`, `:url-origin` set the shim's fields)
///
/// body bytes
/// ```
pub fn parse_request(data: &[u8], actor: Option<&Actor>) -> HttpRequest {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], data[i + 2..].to_vec()),
        None => (data, Vec::new()),
    };
    let head = String::from_utf8_lossy(head);
    let head = match actor {
        Some(a) => substitute(&head, a),
        None => head.into_owned(),
    };
    let body = match (actor, std::str::from_utf8(&body)) {
        (Some(a), Ok(text)) => substitute(text, a).into_bytes(),
        _ => body,
    };
    let mut lines = head.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or((first, ""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        body,
        ..Default::default()
    };
    for line in lines {
        let (name, value) = line.split_once(':').map_or((line, ""), |(n, v)| (n, v));
        let value = value.strip_prefix(' ').unwrap_or(value);
        if name.is_empty() {
            // `:ip 1.2.3.4` and friends: the fields a shim fills in.
            let (field, v) = value.split_once(' ').unwrap_or((value, ""));
            match field {
                "ip" => req.client_ip = Some(v.to_owned()),
                "mount" => req.mount = Some(v.to_owned()),
                "url-origin" => req.url_origin = Some(v.to_owned()),
                _ => {}
            }
            continue;
        }
        req.headers.push((name.to_owned(), value.to_owned()));
    }
    req
}

/// A 5xx or an answer that is not what the handler promises (JSON errors) is a crash.
pub fn check_response(req: &HttpRequest, r: &HttpResponse) {
    assert!(
        (100..500).contains(&r.status),
        "{} {} answered {}: {}",
        req.method,
        req.path,
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let json = r
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("application/json"));
    if json && !r.body.is_empty() {
        assert!(
            serde_json::from_slice::<Value>(&r.body).is_ok(),
            "{} {}: a JSON answer that does not parse",
            req.method,
            req.path
        );
    }
}

/// Errors a malformed input may cause: anything but the database or the code itself failing.
pub fn check_error(what: &str, e: &KavachError) {
    assert!(
        !matches!(e, KavachError::Database(_) | KavachError::Internal(_)),
        "{what}: {e} [{}]",
        e.code()
    );
}
