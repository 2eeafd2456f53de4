//! Bearer, session and agent tokens: the first line is a Cookie header, the second an Authorization
//! header, the third an agent token (`{session}`, `{agentToken}` stand for live ones). Every lookup
//! answers a value or an expected "no", never a database or internal error, and a token only
//! authenticates what it was minted for.
#![no_main]

use kavach_core::crypto::token::{hash_token, AGENT_TOKEN_PREFIX};
use kavach_core::http::{session_token, HttpRequest};
use kavach_core::{fuzzing, AuthzRequest};
use kavach_fuzz::{check_error, harness, substitute, COOKIE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let h = harness();
    let actor = h.actor();
    let text = substitute(text, &actor);
    let mut lines = text.splitn(3, '\n');
    let cookie = lines.next().unwrap_or_default().to_owned();
    let authorization = lines.next().unwrap_or_default().to_owned();
    let agent_token = lines.next().unwrap_or_default().to_owned();

    assert_eq!(hash_token(&agent_token).len(), 64);
    if fuzzing::plausible_agent_token(&agent_token) {
        assert!(agent_token.starts_with(AGENT_TOKEN_PREFIX) && agent_token.len() <= 256);
    }
    let headers = vec![
        ("cookie".to_owned(), cookie.clone()),
        ("authorization".to_owned(), authorization.clone()),
    ];
    let req = HttpRequest {
        headers: headers.clone(),
        ..Default::default()
    };
    let token = session_token(&req, COOKIE).map(str::to_owned);
    let k = &h.kavach;
    h.rt.block_on(async {
        if let Some(t) = &token {
            match k.get_session(t).await {
                Ok(Some((_, user))) => assert_eq!(
                    user.id, actor.user_id,
                    "a session token other than the actor's signed in"
                ),
                Ok(None) => {}
                Err(e) => check_error("get_session", &e),
            }
        }
        if let Err(e) = k
            .session_of_headers(Some(cookie), Some(authorization))
            .await
        {
            check_error("session_of_headers", &e);
        }
        if let Err(e) = k.session_of_request(headers).await {
            check_error("session_of_request", &e);
        }
        let ask = AuthzRequest {
            action: "read".into(),
            resource: "docs:1".into(),
            ..Default::default()
        };
        match k.authorize_by_token(&agent_token, &ask).await {
            Ok(d) => assert!(
                !d.allowed || agent_token == actor.agent_token,
                "a token that is not the agent's was allowed"
            ),
            Err(e) => check_error("authorize_by_token", &e),
        }
    });
});
