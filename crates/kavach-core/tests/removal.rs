//! `Kavach::delete_user` on every backend: the user goes with their sessions and credential, their
//! agents are revoked (rows kept), and a second delete finds nothing.

mod common;

use std::sync::Arc;

use common::*;
use kavach_core::accounts::human::{ClientInfo, SignIn, SignUp};
use kavach_core::{CreateAgent, Kavach, KavachError, ManualClock};

#[tokio::test]
async fn delete_user_cascades() {
    for backend in backends() {
        let url = fresh_url(backend, "removal").await;
        let cfg = config(
            backend,
            &url,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
                "user": { "additionalFields": { "plan": { "type": "string", "defaultValue": "free" } } },
            }),
        );
        let k: Arc<Kavach> = Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        let up = |email: &str| SignUp {
            email: email.into(),
            password: "correct horse".into(),
            name: None,
            image: None,
            extra: Default::default(),
        };
        let inp = || SignIn {
            email: "gone@example.com".into(),
            password: "correct horse".into(),
        };
        let gone = k
            .sign_up(up("gone@example.com"), ClientInfo::default())
            .await
            .unwrap();
        let stays = k
            .sign_up(up("stays@example.com"), ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(
            gone.user.additional.as_ref().and_then(|a| a.get("plan")),
            Some(&serde_json::json!("free")),
            "{backend}: the default is set"
        );
        let second = k.sign_in(inp(), ClientInfo::default()).await.unwrap();
        let agent: CreateAgent = serde_json::from_value(serde_json::json!({
            "ownerId": gone.user.id, "name": "helper", "type": "autonomous",
            "permissions": [{ "resource": "mcp:*", "actions": ["read"] }],
        }))
        .unwrap();
        let agent = k.create_agent(agent).await.unwrap();

        let deleted = k.delete_user(&gone.user.id).await.unwrap();
        assert_eq!(
            deleted.map(|u| u.email),
            Some("gone@example.com".to_owned()),
            "{backend}"
        );
        for token in [gone.token.as_deref().unwrap(), second.token.as_str()] {
            assert!(
                k.get_session(token).await.unwrap().is_none(),
                "{backend}: sessions end"
            );
        }
        assert!(
            matches!(
                k.sign_in(inp(), ClientInfo::default()).await,
                Err(KavachError::InvalidCredentials)
            ),
            "{backend}: the credential is gone"
        );
        let a = k
            .get_agent(&agent.agent.id)
            .await
            .unwrap()
            .expect("the agent row stays");
        assert_eq!(a.status.as_str(), "revoked", "{backend}");
        assert!(
            k.delete_user(&gone.user.id).await.unwrap().is_none(),
            "{backend}: nothing left"
        );
        let other = k
            .get_session(stays.token.as_deref().unwrap())
            .await
            .unwrap();
        assert!(other.is_some(), "{backend}: another user is untouched");
        k.close().await;
    }
}
