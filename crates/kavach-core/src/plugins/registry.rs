//! The built-in plugins: one line each. A new plugin adds its folder under `plugins/`, one line
//! here, its migrations under `migrations/<dialect>/` and its typings in `plugins.d.ts`.
//!
//! This module sits above the core: it names the plugins, and gives [`Kavach`] the constructors
//! that boot an instance with them, so that the core itself never names a plugin.

use std::sync::Arc;

use crate::callbacks::Callbacks;
use crate::clock::{Clock, SystemClock};
use crate::config::KavachConfig;
use crate::error::Result;
use crate::kavach::Kavach;
use crate::plugin::Registration;

/// Every plugin this build of kavachos has, by the `id` of its `{ id, options }` description.
pub const BUILTIN: &[Registration] = &[
    Registration {
        id: "organization",
        factory: super::organization::plugin,
    },
    Registration {
        id: "two-factor",
        factory: super::two_factor::plugin,
    },
    Registration {
        id: "admin",
        factory: super::admin::plugin,
    },
    Registration {
        id: "jwt",
        factory: super::jwt::plugin,
    },
    Registration {
        id: "oauth",
        factory: super::oauth::plugin,
    },
    // `apiKey()`; `apiKeys()` of kavachos/plugins describes the same plugin.
    Registration {
        id: "api-key",
        factory: super::api_key::plugin,
    },
    Registration {
        id: "magic-link",
        factory: super::magic_link::plugin,
    },
    Registration {
        id: "email-otp",
        factory: super::email_otp::plugin,
    },
    Registration {
        id: "username",
        factory: super::username::plugin,
    },
    Registration {
        id: "phone-number",
        factory: super::phone_number::plugin,
    },
    // `createKavach({ mcp })`: the JS facade turns the block into this description.
    Registration {
        id: "mcp",
        factory: super::mcp::plugin,
    },
    Registration {
        id: "anonymous",
        factory: super::anonymous::plugin,
    },
    Registration {
        id: "one-tap",
        factory: super::one_tap::plugin,
    },
    Registration {
        id: "siwe",
        factory: super::siwe::plugin,
    },
    Registration {
        id: "device-authorization",
        factory: super::device_authorization::plugin,
    },
    Registration {
        id: "passkey",
        factory: super::passkey::plugin,
    },
];

impl Kavach {
    /// Boots an instance with the built-in plugins: checks the config, connects, migrates (unless
    /// skipped), starts writers.
    pub async fn open(config: &KavachConfig, node_env: Option<&str>) -> Result<Arc<Self>> {
        Self::open_with_clock(config, node_env, Arc::new(SystemClock)).await
    }

    pub async fn open_with_clock(
        config: &KavachConfig,
        node_env: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>> {
        Self::open_with(config, node_env, clock, Callbacks::default()).await
    }

    /// Boots an instance that awaits the app's callbacks (`verifyLegacyHash`, ...).
    pub async fn open_with(
        config: &KavachConfig,
        node_env: Option<&str>,
        clock: Arc<dyn Clock>,
        callbacks: Callbacks,
    ) -> Result<Arc<Self>> {
        Self::boot(config, node_env, clock, callbacks, BUILTIN).await
    }
}
