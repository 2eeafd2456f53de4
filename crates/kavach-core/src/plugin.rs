//! The plugin interface: what a plugin is, and the only way the core knows one. The plugins
//! themselves live in `plugins/`, which the core never imports.
//!
//! A plugin is a folder under `plugins/` that owns its options, its HTTP routes, its calls from
//! JavaScript (`kavach.<namespace>.<op>(input)`), its tables' migrations and its hooks into the
//! core's flows. It is built from its `{ id, options }` description by the factory it lists in
//! `plugins::registry`. The core holds the built plugins as `dyn Plugin` in [`Plugins`] and calls them
//! only through this trait; the plugins depend on the core, never the other way round.
//!
//! The models: better-auth's plugin objects (`packages/better-auth/src/plugins/*`: id, endpoints,
//! schema, hooks, error codes) and Ory Kratos' strategies (`selfservice/strategy/*`, one registry).

use std::any::Any;
use std::sync::Arc;

use serde_json::Value;

use crate::accounts::human::User;
use crate::callbacks::Callbacks;
use crate::error::{KavachError, Result};
use crate::http::{ApiResult, HttpRequest};
use crate::kavach::Kavach;
use crate::BoxFut;

/// What a factory may read besides the plugin's own options.
pub struct PluginEnv<'a> {
    /// The instance secret (`createKavach({ secret })`), if set.
    pub secret: Option<&'a str>,
    /// `createKavach({ baseUrl })`, if set.
    pub base_url: Option<&'a str>,
    /// The app's functions the plugin may await (`sendInvitationEmail`, `customClaims`, ...).
    pub callbacks: &'a Callbacks,
}

/// Builds a plugin from its `options` (JSON `null` when none were given).
pub type Factory = fn(options: &Value, env: &PluginEnv<'_>) -> Result<Arc<dyn Plugin>>;

/// One line of the registry: the `id` of a `{ id, options }` description and its factory.
pub struct Registration {
    pub id: &'static str,
    pub factory: Factory,
}

/// A route handler. `params` are the values of the `:name` segments of the route's path, in order.
pub type Handler =
    for<'a> fn(k: &'a Kavach, req: &'a HttpRequest, params: &'a [&'a str]) -> BoxFut<'a, ApiResult>;

/// One HTTP route: a method, a path pattern relative to the mount (`/organizations/:id/members`)
/// and its handler. 404, 405 with `Allow`, and CORS preflight answers are all derived from the
/// route tables, so a route is listed exactly once.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub handler: Handler,
    /// A form POST another site's page sends on purpose (Apple's OAuth `response_mode=form_post`):
    /// no `Origin` check and no JSON body rule. Such a handler must change nothing itself: it
    /// only redirects to a GET route that checks what it needs (a SameSite=Lax cookie rides
    /// along on a top-level GET, never on a cross-site POST).
    pub cross_site_form: bool,
    /// Authenticated only by what the request carries (client credentials, a code, a token),
    /// never by a cookie, and called by other sites and servers (the MCP token endpoint): no
    /// `Origin` check. Such a handler must not read the session cookie.
    pub cookieless: bool,
}

/// A `Route` whose handler is an async block: `route!("POST", "/x/:id", |k, req, p| { ... })`;
/// `route!(cross_site_form "POST", ...)` marks a [`Route::cross_site_form`] route,
/// `route!(cookieless "POST", ...)` a [`Route::cookieless`] one.
#[macro_export]
#[doc(hidden)]
macro_rules! route {
    (cookieless $method:literal, $path:literal, |$k:ident, $req:ident, $p:ident| $body:block) => {{
        $crate::plugin::Route {
            cookieless: true,
            ..$crate::route!($method, $path, |$k, $req, $p| $body)
        }
    }};
    (cross_site_form $method:literal, $path:literal, |$k:ident, $req:ident, $p:ident| $body:block) => {{
        $crate::plugin::Route {
            cross_site_form: true,
            ..$crate::route!($method, $path, |$k, $req, $p| $body)
        }
    }};
    ($method:literal, $path:literal, |$k:ident, $req:ident, $p:ident| $body:block) => {{
        #[allow(unused_variables)]
        fn handler<'a>(
            $k: &'a $crate::kavach::Kavach,
            $req: &'a $crate::http::HttpRequest,
            $p: &'a [&'a str],
        ) -> $crate::BoxFut<'a, $crate::http::ApiResult> {
            Box::pin(async move $body)
        }
        $crate::plugin::Route {
            method: $method,
            path: $path,
            handler,
            cross_site_form: false,
            cookieless: false,
        }
    }};
}

/// What a sign-in hook knows of the request beyond the user: its cookies.
#[derive(Debug, Default)]
pub struct SignInContext {
    pub cookies: Vec<(String, String)>,
}

impl SignInContext {
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A sign-in a plugin holds back: no session is created. `data` is what the JS call answers,
/// `body` what the HTTP route answers, with `set_cookie` when the plugin needs one (a pending
/// two-factor sign-in, for example).
#[derive(Debug, Clone)]
pub struct Interruption {
    pub data: Value,
    pub body: Value,
    pub set_cookie: Option<String>,
}

impl serde::Serialize for Interruption {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.data.serialize(s)
    }
}

/// A plugin, as the core sees it. Every method but `id` and `as_any` has a default that does
/// nothing, so a plugin implements only what it adds.
pub trait Plugin: Any + Send + Sync {
    /// The `id` of its `{ id, options }` description (`"organization"`, `"two-factor"`, ...).
    fn id(&self) -> &'static str;

    /// Its HTTP routes; they exist only while the plugin is on.
    fn routes(&self) -> &'static [Route] {
        &[]
    }

    /// The name of its JS namespace (`kavach.<namespace>.<op>`), if it has calls.
    fn namespace(&self) -> Option<&'static str> {
        None
    }

    /// `kavach.<namespace>.<op>(input)`: the JSON answer.
    fn call<'a>(&'a self, k: &'a Kavach, op: &'a str, input: Value) -> BoxFut<'a, Result<Value>> {
        let _ = (k, op, input);
        Box::pin(async move { Err(KavachError::Internal("this plugin has no calls".into())) })
    }

    /// Called for a user about to be created, before it is written (a default role, ...).
    fn prepare_user(&self, user: &mut User) {
        let _ = user;
    }

    /// Called on sign-up (`for_update` false) and on `POST /auth/update-user` (true) with the
    /// body's fields beyond the core's (email, password, name, image): the plugin removes the ones
    /// it owns from `fields` and sets them on `user` (username's `username`), or refuses them.
    /// `hooks` holds the app's plugin option functions (`usernameValidator`). A field no plugin
    /// (and no `user.additionalFields` entry) takes is refused by the core.
    fn user_fields<'a>(
        &'a self,
        hooks: &'a crate::callbacks::Hooks,
        fields: &'a mut serde_json::Map<String, Value>,
        user: &'a mut User,
        for_update: bool,
    ) -> BoxFut<'a, Result<()>> {
        let _ = (hooks, fields, user, for_update);
        Box::pin(async { Ok(()) })
    }

    /// Called once the first factor (the password) checks out and before a session exists:
    /// `Some` holds the sign-in back (a second factor is due, ...), an error refuses it.
    fn on_sign_in<'a>(
        &'a self,
        k: &'a Kavach,
        user: &'a User,
        ctx: &'a SignInContext,
    ) -> BoxFut<'a, Result<Option<Interruption>>> {
        let _ = (k, user, ctx);
        Box::pin(async { Ok(None) })
    }

    /// Called by the HTTP router after any route answered with a new session cookie (every
    /// sign-in and sign-up method, core's or a plugin's, ends there), before the answer leaves:
    /// `req` is the request (the session it may replace rides in its cookie), `new_token` the new
    /// session's token. An error turns the answer into that error (anonymous: `onLinkAccount`
    /// threw). Plugins that do not implement it cost nothing.
    fn on_new_session<'a>(
        &'a self,
        k: &'a Kavach,
        req: &'a HttpRequest,
        new_token: &'a str,
    ) -> BoxFut<'a, Result<()>> {
        let _ = (k, req, new_token);
        Box::pin(async { Ok(()) })
    }

    /// A session a request authenticates some other way than the session cookie or Bearer token
    /// (the apiKey plugin's `x-api-key`), asked only when the request carries neither. `None`: not
    /// this plugin's, or not valid.
    fn session_from_headers<'a>(
        &'a self,
        k: &'a Kavach,
        req: &'a HttpRequest,
    ) -> BoxFut<'a, Result<Option<(crate::accounts::human::Session, User)>>> {
        let _ = (k, req);
        Box::pin(async { Ok(None) })
    }

    /// [`Plugin::session_from_headers`] answered on the calling thread (SQLite's inline reads), or
    /// `None` to take the async hook (another database, or a write to make).
    fn session_from_headers_inline(
        &self,
        k: &Kavach,
        req: &HttpRequest,
    ) -> Option<Result<Option<(crate::accounts::human::Session, User)>>> {
        let _ = (k, req);
        Some(Ok(None))
    }

    /// Called first inside the transaction that deletes (`Kavach::delete_user`: admin `removeUser`,
    /// anonymous guest clean-up) or bans (admin `banUser`) a user, on that transaction's
    /// connection: an error refuses the change and rolls it back (organization: `LAST_OWNER` when
    /// the user is the last owner of an organization, checked under the same row locks as leaving).
    fn before_user_removed<'a>(
        &'a self,
        k: &'a Kavach,
        conn: TxConn<'a>,
        user_id: &'a str,
    ) -> BoxFut<'a, Result<()>> {
        let _ = (k, conn, user_id);
        Box::pin(async { Ok(()) })
    }

    /// For downcasting to the concrete plugin (`Plugins::get`).
    fn as_any(&self) -> &dyn Any;
}

/// The connection of a transaction in progress, for [`Plugin::before_user_removed`]. Built with
/// `TxConn::from(&mut *tx)` on any dialect's transaction.
pub enum TxConn<'c> {
    Sqlite(&'c mut sqlx::SqliteConnection),
    Pg(&'c mut sqlx::PgConnection),
    My(&'c mut sqlx::MySqlConnection),
}

impl TxConn<'_> {
    /// The same connection, borrowed again (to hand to one plugin after another).
    pub fn reborrow(&mut self) -> TxConn<'_> {
        match self {
            TxConn::Sqlite(c) => TxConn::Sqlite(c),
            TxConn::Pg(c) => TxConn::Pg(c),
            TxConn::My(c) => TxConn::My(c),
        }
    }
}

impl<'c> From<&'c mut sqlx::SqliteConnection> for TxConn<'c> {
    fn from(c: &'c mut sqlx::SqliteConnection) -> Self {
        TxConn::Sqlite(c)
    }
}

impl<'c> From<&'c mut sqlx::PgConnection> for TxConn<'c> {
    fn from(c: &'c mut sqlx::PgConnection) -> Self {
        TxConn::Pg(c)
    }
}

impl<'c> From<&'c mut sqlx::MySqlConnection> for TxConn<'c> {
    fn from(c: &'c mut sqlx::MySqlConnection) -> Self {
        TxConn::My(c)
    }
}

/// The plugins an instance runs, in the order of `createKavach({ plugins })`.
#[derive(Default)]
pub struct Plugins {
    list: Vec<Arc<dyn Plugin>>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|p| p.id()))
            .finish()
    }
}

impl Plugins {
    /// Builds every described plugin with the factory `registry` lists for its id. An id no
    /// factory has is a configuration error, never a silent no-op; so is the same id twice.
    pub fn build(
        descriptions: &[crate::accounts::external::ExternalAuthEntry],
        registry: &[Registration],
        env: &PluginEnv<'_>,
    ) -> Result<Self> {
        let mut list: Vec<Arc<dyn Plugin>> = Vec::with_capacity(descriptions.len());
        for d in descriptions {
            let Some(r) = registry.iter().find(|r| r.id == d.id) else {
                return Err(KavachError::ConfigInvalid(format!(
                    "the \"{}\" plugin is not available in this version of kavachos yet",
                    d.id
                )));
            };
            if list.iter().any(|p| p.id() == r.id) {
                return Err(KavachError::ConfigInvalid(format!(
                    "the \"{}\" plugin is listed twice in plugins",
                    d.id
                )));
            }
            list.push((r.factory)(&d.options, env)?);
        }
        Ok(Self { list })
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Plugin> {
        self.list.iter().map(|p| p.as_ref())
    }

    /// The running plugin of type `T`, if it is on.
    pub fn get<T: Plugin>(&self) -> Option<&T> {
        self.list
            .iter()
            .find_map(|p| p.as_any().downcast_ref::<T>())
    }

    /// The plugin whose JS namespace is `namespace`.
    pub fn by_namespace(&self, namespace: &str) -> Option<&dyn Plugin> {
        self.iter().find(|p| p.namespace() == Some(namespace))
    }
}

/// A call's JSON input as `T`; a shape that does not fit is `VALIDATION_FAILED` naming `what`.
pub fn decode<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T> {
    serde_json::from_value(v).map_err(|e| KavachError::validation(format!("invalid {what}: {e}")))
}

/// A call's answer as JSON.
pub fn encode<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|_| KavachError::Internal("could not encode a result".into()))
}
