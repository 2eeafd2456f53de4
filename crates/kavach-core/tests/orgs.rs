//! The organization plugin on every backend: the seed 000 calls, roles, and the last owner.

mod common;

use common::*;
use kavach_core::plugins::organization::{
    CreateOrganization, MemberInput, MemberRef, UpdateOrganization,
};
use kavach_core::{Kavach, ManualClock};

fn member(org: &str, user: &str, role: &str) -> MemberInput {
    MemberInput {
        organization_id: org.into(),
        user_id: user.into(),
        role: role.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_on_every_backend() {
    for backend in backends() {
        let url = fresh_url(backend, "orgs").await;
        let cfg = config(
            backend,
            &url,
            serde_json::json!({ "plugins": [{ "id": "organization", "options": { "roles": { "billing": ["invoices:read"] } } }] }),
        );
        let k = Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
            .await
            .unwrap();
        let ctx = |e: kavach_core::KavachError| format!("{backend}: {}", explain(&e));

        let org = k
            .create_organization(CreateOrganization {
                name: "Acme, Inc.".into(),
                owner_id: "u_owner".into(),
                slug: None,
                metadata: None,
            })
            .await
            .map_err(ctx)
            .unwrap();
        assert_eq!(org.slug, "acme-inc");
        let twin = k
            .create_organization(CreateOrganization {
                name: "Acme Inc".into(),
                owner_id: "u_other".into(),
                slug: None,
                metadata: None,
            })
            .await
            .unwrap();
        assert!(
            twin.slug.starts_with("acme-inc-") && twin.slug != org.slug,
            "{}",
            twin.slug
        );
        let taken = k
            .create_organization(CreateOrganization {
                name: "X".into(),
                owner_id: "u".into(),
                slug: Some("acme-inc".into()),
                metadata: None,
            })
            .await
            .unwrap_err();
        assert_eq!(taken.code(), "CONFLICT");

        let m = k
            .add_member(member(&org.id, "u_member", "member"))
            .await
            .map_err(ctx)
            .unwrap();
        assert_eq!(
            (m.role.as_str(), m.organization_id.as_str()),
            ("member", org.id.as_str())
        );
        assert_eq!(
            k.add_member(member(&org.id, "u_member", "admin"))
                .await
                .unwrap_err()
                .code(),
            "CONFLICT"
        );
        assert_eq!(
            k.add_member(member(&org.id, "u_x", "emperor"))
                .await
                .unwrap_err()
                .code(),
            "VALIDATION_FAILED"
        );
        k.add_member(member(&org.id, "u_billing", "billing"))
            .await
            .unwrap();
        assert_eq!(
            k.add_member(member("nope", "u", "member"))
                .await
                .unwrap_err()
                .code(),
            "NOT_FOUND"
        );

        let members = k.list_members(&org.id).await.unwrap();
        assert_eq!(
            members.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(),
            ["owner", "member", "billing"]
        );
        assert_eq!(k.list_organizations("u_member").await.unwrap().len(), 1);

        // The last owner stays.
        let e = k
            .remove_member(MemberRef {
                organization_id: org.id.clone(),
                user_id: "u_owner".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "LAST_OWNER", "{backend}");
        assert_eq!(
            k.update_member_role(member(&org.id, "u_owner", "admin"))
                .await
                .unwrap_err()
                .code(),
            "LAST_OWNER"
        );
        k.update_member_role(member(&org.id, "u_member", "owner"))
            .await
            .map_err(ctx)
            .unwrap();
        // Two owners demoting each other at once: exactly one may succeed.
        let (a, b) = tokio::join!(
            k.update_member_role(member(&org.id, "u_owner", "member")),
            k.update_member_role(member(&org.id, "u_member", "member")),
        );
        assert_eq!(
            a.is_ok() as u8 + b.is_ok() as u8,
            1,
            "{backend}: {a:?} {b:?}"
        );
        let owners = k
            .list_members(&org.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.role == "owner")
            .count();
        assert_eq!(owners, 1, "{backend}");
        k.remove_member(MemberRef {
            organization_id: org.id.clone(),
            user_id: "u_billing".into(),
        })
        .await
        .unwrap();

        let renamed = k
            .update_organization(
                &org.id,
                UpdateOrganization {
                    name: Some("Acme Two".into()),
                    slug: None,
                    metadata: Some(serde_json::json!({ "plan": "pro" })),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.metadata.clone()),
            ("Acme Two", Some(serde_json::json!({ "plan": "pro" })))
        );
        assert_eq!(k.get_organization(&org.id).await.unwrap(), Some(renamed));
        k.delete_organization(&org.id).await.unwrap();
        assert!(k.get_organization(&org.id).await.unwrap().is_none());
        assert!(k.list_members(&org.id).await.unwrap().is_empty());
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_need_the_plugin_and_other_plugins_are_refused() {
    let (k, url) = open("sqlite", "orgs_off", ManualClock::new(NOON)).await;
    let e = k
        .create_organization(CreateOrganization {
            name: "A".into(),
            owner_id: "u".into(),
            slug: None,
            metadata: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "CONFIG_INVALID");
    k.close().await;
    let cfg = config(
        "sqlite",
        &url,
        serde_json::json!({ "plugins": [{ "id": "api-keys", "options": {} }] }),
    );
    assert_eq!(
        Kavach::open(&cfg, None).await.unwrap_err().code(),
        "CONFIG_INVALID"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_expire_on_the_clock_on_every_backend() {
    use kavach_core::accounts::human::{ClientInfo, SignUp};
    use kavach_core::plugins::organization::InviteInput;
    for backend in backends() {
        let url = fresh_url(backend, "orginv").await;
        let cfg = config(
            backend,
            &url,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
                "plugins": [{ "id": "organization", "options": { "invitationExpiresIn": 3600 } }]
            }),
        );
        let clock = ManualClock::new(NOON);
        let k = Kavach::open_with_clock(&cfg, None, clock.clone())
            .await
            .unwrap();
        let user = |email: &str| SignUp {
            email: email.into(),
            password: "long enough pw".into(),
            name: None,
            image: None,
            extra: Default::default(),
        };
        let invitee = k
            .sign_up(user("late@example.com"), ClientInfo::default())
            .await
            .unwrap()
            .user;
        let org = k
            .create_organization(CreateOrganization {
                name: "Clockwork".into(),
                owner_id: "u_owner".into(),
                slug: None,
                metadata: None,
            })
            .await
            .unwrap();
        let invite = || InviteInput {
            organization_id: org.id.clone(),
            email: "late@example.com".into(),
            role: "member".into(),
            inviter_id: None,
        };
        let first = k.invite_member(invite(), None).await.unwrap();
        assert_eq!(first.expires_at, NOON + 3_600_000, "{backend}");
        // One millisecond before the hour it can still be accepted; at the hour it cannot.
        clock.set(NOON + 3_600_000);
        let e = k
            .accept_invitation(&first.id, &invitee.id)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "INVITATION_EXPIRED", "{backend}");
        assert_eq!(
            k.get_invitation(&first.id).await.unwrap().unwrap().status,
            "expired"
        );
        let second = k.invite_member(invite(), None).await.unwrap();
        clock.set(NOON + 3_600_000 + 3_599_999);
        let m = k
            .accept_invitation(&second.id, &invitee.id)
            .await
            .map_err(|e| format!("{backend}: {}", explain(&e)))
            .unwrap();
        assert_eq!(m.role, "member");
        assert_eq!(
            k.accept_invitation(&second.id, &invitee.id)
                .await
                .unwrap_err()
                .code(),
            "CONFLICT"
        );
        k.close().await;
    }
}

/// Issue 17 (8): the admin plugin's banUser and removeUser (both `Kavach::delete_user` and the ban
/// run `Plugin::before_user_removed` first in their transaction) refuse the last owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cannot_ban_or_remove_the_last_owner_on_every_backend() {
    use kavach_core::accounts::human::{ClientInfo, SignUp};
    use kavach_core::plugins::admin::BanUser;
    for backend in backends() {
        let url = fresh_url(backend, "orgs_last_owner").await;
        let cfg = config(
            backend,
            &url,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
                "plugins": [{ "id": "admin", "options": {} }, { "id": "organization", "options": {} }],
            }),
        );
        let k = Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
            .await
            .unwrap();
        let up = |email: &str| SignUp {
            email: email.into(),
            password: "correct horse".into(),
            name: None,
            image: None,
            extra: Default::default(),
        };
        let a = k
            .sign_up(up("a@example.com"), ClientInfo::default())
            .await
            .unwrap()
            .user;
        let b = k
            .sign_up(up("b@example.com"), ClientInfo::default())
            .await
            .unwrap()
            .user;
        let org = k
            .create_organization(CreateOrganization {
                name: "Solo".into(),
                owner_id: a.id.clone(),
                slug: None,
                metadata: None,
            })
            .await
            .unwrap();
        let ban = |id: &str| BanUser {
            user_id: id.into(),
            reason: None,
            expires_at: None,
        };
        let e = k.ban_user(ban(&a.id)).await.unwrap_err();
        assert_eq!(e.code(), "LAST_OWNER", "{backend}");
        let e = k.remove_user(&a.id).await.unwrap_err();
        assert_eq!(e.code(), "LAST_OWNER", "{backend}");
        let e = k
            .remove_member(MemberRef {
                organization_id: org.id.clone(),
                user_id: a.id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "LAST_OWNER", "{backend}");
        // Nothing changed.
        let still = k.admin_get_user(&a.id).await.unwrap().expect("user kept");
        assert!(!still.banned, "{backend}");
        assert_eq!(
            k.membership(&org.id, &a.id).await.unwrap().map(|m| m.role),
            Some("owner".to_owned()),
            "{backend}"
        );
        // With a second owner, all succeed.
        k.add_member(member(&org.id, &b.id, "owner")).await.unwrap();
        assert!(k.ban_user(ban(&a.id)).await.unwrap().banned, "{backend}");
        k.remove_user(&a.id).await.unwrap();
        assert!(
            k.membership(&org.id, &a.id).await.unwrap().is_none(),
            "{backend}"
        );
        let e = k.remove_user(&b.id).await.unwrap_err();
        assert_eq!(e.code(), "LAST_OWNER", "{backend}");
    }
}
