//! The app's own functions kavachos awaits (given to `createKavach` in JS, implemented by the binding).
//! The core sees only these traits, so it stays free of napi.

use std::sync::Arc;

use crate::error::Result;
use crate::BoxFut;

/// `emailAndPassword.verifyLegacyHash({ storedHash, password })`: says whether a hash in a format
/// kavachos does not verify itself matches the password.
pub trait LegacyHashVerifier: Send + Sync + 'static {
    fn verify(&self, stored_hash: String, password: String) -> BoxFut<'static, Result<bool>>;
}

/// `sendResetPassword` / `sendVerificationEmail`: delivers `{ user, url, token }` to a person.
pub trait EmailSender: Send + Sync + 'static {
    fn send(&self, message: serde_json::Value) -> BoxFut<'static, Result<()>>;
}

/// `jwt({ customClaims })`: given `{ session, user }` (the core's JSON, times in Unix ms), answers a
/// JSON object of extra claims for the token being issued.
pub trait JwtClaims: Send + Sync + 'static {
    fn claims(&self, input: serde_json::Value) -> BoxFut<'static, Result<serde_json::Value>>;
}

/// One function of `createKavach({ hooks })`: a `before*`/`after*` hook or an event's listener.
pub trait HookFn: Send + Sync + 'static {
    /// Calls it and awaits its answer (the `before*` hooks): the JSON it resolved to, `null` when
    /// it returned nothing. A throw is an error.
    fn call(&self, payload: serde_json::Value) -> BoxFut<'static, Result<serde_json::Value>>;
    /// Calls it without waiting: its answer, a throw or a hang never reach the caller (the JS side
    /// logs a failure, without the payload).
    fn fire(&self, payload: serde_json::Value);
}

/// `hooks: { beforeAuthorize?, afterAuthorize?, beforeAgentCreate?, afterAgentCreate?,
/// onAgentRevoke?, onViolation?, events?: { [name]: fn } }`.
#[derive(Clone, Default)]
pub struct Hooks {
    pub before_authorize: Option<Arc<dyn HookFn>>,
    pub after_authorize: Option<Arc<dyn HookFn>>,
    pub before_agent_create: Option<Arc<dyn HookFn>>,
    pub after_agent_create: Option<Arc<dyn HookFn>>,
    pub on_agent_revoke: Option<Arc<dyn HookFn>>,
    pub on_violation: Option<Arc<dyn HookFn>>,
    /// Listeners by event name (`user.created`, ...).
    pub events: Vec<(String, Arc<dyn HookFn>)>,
    /// Functions of a plugin's options, by `<plugin>.<option>` (`mcp.autoApprove`): awaited with
    /// `call`, their answer an object.
    pub plugin_fns: Vec<(String, Arc<dyn HookFn>)>,
}

impl Hooks {
    /// The plugin option function `name` (`mcp.autoApprove`), if the app gave one.
    pub fn plugin_fn(&self, name: &str) -> Option<&Arc<dyn HookFn>> {
        self.plugin_fns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f)
    }

    /// Whether any hook runs around authorize (the same-thread fast path is then skipped when
    /// one must be awaited).
    pub fn around_authorize(&self) -> bool {
        self.before_authorize.is_some()
            || self.after_authorize.is_some()
            || self.on_violation.is_some()
    }
}

/// Every callback an instance may hold.
#[derive(Clone, Default)]
pub struct Callbacks {
    pub verify_legacy_hash: Option<Arc<dyn LegacyHashVerifier>>,
    pub send_reset_password: Option<Arc<dyn EmailSender>>,
    pub send_verification_email: Option<Arc<dyn EmailSender>>,
    /// `organization({ sendInvitationEmail })`: `{ email, role, organization, inviter, invitationId, url }`.
    pub send_invitation_email: Option<Arc<dyn EmailSender>>,
    pub jwt_claims: Option<Arc<dyn JwtClaims>>,
    /// `hooks`.
    pub hooks: Hooks,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("verify_legacy_hash", &self.verify_legacy_hash.is_some())
            .finish()
    }
}
