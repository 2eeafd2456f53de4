//! The organization plugin's calls on the instance (`kavach.organizations.*` and the routes).

use super::{
    CreateOrganization, Invitation, InviteInput, Member, MemberInput, MemberRef, OrgStore,
    Organization, OrganizationPlugin, UpdateOrganization,
};
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;

impl Kavach {
    // ---- organizations ------------------------------------------------------------------------

    fn orgs(&self) -> Result<OrgStore<'_>> {
        self.check_open()?;
        match self.plugin::<OrganizationPlugin>() {
            Some(plugin) => Ok(OrgStore {
                pool: self.pool(),
                dialect: self.dialect(),
                settings: &plugin.settings,
                emitter: self.emitter(),
            }),
            None => Err(KavachError::ConfigInvalid(
                "organizations need the organization() plugin in plugins".into(),
            )),
        }
    }

    pub async fn create_organization(&self, input: CreateOrganization) -> Result<Organization> {
        self.orgs()?.create(input, self.now_ms()).await
    }

    pub async fn get_organization(&self, id: &str) -> Result<Option<Organization>> {
        self.orgs()?.get(id).await
    }

    pub async fn update_organization(
        &self,
        id: &str,
        patch: UpdateOrganization,
    ) -> Result<Organization> {
        self.orgs()?.update(id, patch, self.now_ms()).await
    }

    pub async fn delete_organization(&self, id: &str) -> Result<()> {
        self.orgs()?.delete(id, self.now_ms()).await
    }

    pub async fn add_member(&self, input: MemberInput) -> Result<Member> {
        self.orgs()?.add_member(input, self.now_ms()).await
    }

    pub async fn remove_member(&self, input: MemberRef) -> Result<Member> {
        self.orgs()?.remove_member(input, self.now_ms()).await
    }

    pub async fn update_member_role(&self, input: MemberInput) -> Result<Member> {
        self.orgs()?.update_member_role(input, self.now_ms()).await
    }

    pub async fn membership(&self, org_id: &str, user_id: &str) -> Result<Option<Member>> {
        self.orgs()?.member(org_id, user_id).await
    }

    pub async fn list_members(&self, org_id: &str) -> Result<Vec<Member>> {
        self.orgs()?.list_members(org_id).await
    }

    pub async fn list_organizations(&self, user_id: &str) -> Result<Vec<Organization>> {
        self.orgs()?.list_for_user(user_id).await
    }

    /// `hasPermission`: whether the member's role grants every one of `wanted`.
    pub async fn has_permission(
        &self,
        org_id: &str,
        user_id: &str,
        wanted: &[String],
    ) -> Result<bool> {
        self.orgs()?.has_permission(org_id, user_id, wanted).await
    }

    /// Invites an email into an organization and hands the link to `sendInvitationEmail`.
    /// `request_origin` builds the link when no `baseUrl` is set.
    pub async fn invite_member(
        &self,
        input: InviteInput,
        request_origin: Option<&str>,
    ) -> Result<Invitation> {
        let orgs = self.orgs()?;
        let sender = self.callbacks().send_invitation_email.clone();
        let origin = crate::accounts::human::link_origin(self.settings(), request_origin)
            .ok()
            .map(str::to_owned);
        if sender.is_some() && origin.is_none() {
            return Err(KavachError::ConfigInvalid(
                "set baseUrl so that kavachos can build invitation links".into(),
            ));
        }
        let inviter_id = input.inviter_id.clone();
        let inv = orgs.invite(input, self.now_ms()).await?;
        let (Some(sender), Some(origin)) = (sender, origin) else {
            return Ok(inv);
        };
        let org = orgs.get(&inv.organization_id).await?;
        let inviter = match &inviter_id {
            Some(id) => self.humans().user_by_id(id).await?,
            None => None,
        };
        let path = orgs.settings.invitation_path.as_str();
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{origin}{path}{sep}invitationId={}", inv.id);
        let message = serde_json::json!({
            "email": inv.email,
            "role": inv.role,
            "invitationId": inv.id,
            "url": url,
            "organization": org.map(|o| serde_json::json!({ "id": o.id, "name": o.name, "slug": o.slug })),
            "inviter": inviter.map(|u| serde_json::json!({ "id": u.id, "email": u.email, "name": u.name })),
            "expiresAt": inv.expires_at,
        });
        if let Err(e) = sender.send(message).await {
            // Not sent: take it back, so that the same email can be invited again.
            orgs.forget_invitation(&inv.id).await?;
            return Err(e);
        }
        Ok(inv)
    }

    pub async fn get_invitation(&self, id: &str) -> Result<Option<Invitation>> {
        self.orgs()?.invitation(id, self.now_ms()).await
    }

    pub async fn list_invitations(&self, org_id: &str) -> Result<Vec<Invitation>> {
        self.orgs()?.list_invitations(org_id, self.now_ms()).await
    }

    pub async fn invitations_for_email(&self, email: &str) -> Result<Vec<Invitation>> {
        self.orgs()?
            .invitations_for_email(email, self.now_ms())
            .await
    }

    /// The email of `user_id`, whom an invitation must be addressed to.
    async fn invitee_email(&self, user_id: &str) -> Result<String> {
        self.humans()
            .user_by_id(user_id)
            .await?
            .map(|u| u.email)
            .ok_or_else(|| KavachError::NotFound("user not found".into()))
    }

    /// Accepts an invitation for a user, found by id: their email must be the invited one.
    pub async fn accept_invitation(&self, id: &str, user_id: &str) -> Result<Member> {
        let orgs = self.orgs()?;
        let email = self.invitee_email(user_id).await?;
        orgs.accept_invitation(id, user_id, &email, self.now_ms())
            .await
    }

    pub async fn decline_invitation(&self, id: &str, user_id: &str) -> Result<Invitation> {
        let orgs = self.orgs()?;
        let email = self.invitee_email(user_id).await?;
        orgs.decline_invitation(id, &email, self.now_ms()).await
    }

    pub async fn cancel_invitation(&self, org_id: &str, id: &str) -> Result<Invitation> {
        self.orgs()?
            .cancel_invitation(org_id, id, self.now_ms())
            .await
    }

    /// Sets the organization a session acts in (`None` clears it).
    pub async fn set_active_organization(
        &self,
        session_id: &str,
        user_id: &str,
        org_id: Option<&str>,
    ) -> Result<()> {
        self.orgs()?.set_active(session_id, user_id, org_id).await
    }
}
