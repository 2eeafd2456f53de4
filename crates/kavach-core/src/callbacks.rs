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

/// Every callback an instance may hold.
#[derive(Clone, Default)]
pub struct Callbacks {
    pub verify_legacy_hash: Option<Arc<dyn LegacyHashVerifier>>,
    pub send_reset_password: Option<Arc<dyn EmailSender>>,
    pub send_verification_email: Option<Arc<dyn EmailSender>>,
    /// `organization({ sendInvitationEmail })`: `{ email, role, organization, inviter, invitationId, url }`.
    pub send_invitation_email: Option<Arc<dyn EmailSender>>,
    pub jwt_claims: Option<Arc<dyn JwtClaims>>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("verify_legacy_hash", &self.verify_legacy_hash.is_some())
            .finish()
    }
}
