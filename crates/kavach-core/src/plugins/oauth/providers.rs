//! The first-class OAuth providers: each one's real endpoints, default scopes, how its token
//! endpoint authenticates the client, and how its user info maps onto a [`Profile`].
//!
//! INTERFACE (the flow in `mod.rs` uses exactly these items; keep their names and shapes).

use serde_json::Value;

/// How the token endpoint authenticates the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// One first-class provider.
#[derive(Debug)]
pub struct Spec {
    pub id: &'static str,
    /// Shown to people ("GitHub").
    pub name: &'static str,
    pub authorization_endpoint: &'static str,
    pub token_endpoint: &'static str,
    /// The scopes asked for when the app names none.
    pub default_scopes: &'static [&'static str],
    /// How scopes are joined in the authorize URL (" " for most; "," where the provider needs it).
    pub scope_separator: &'static str,
    /// Sends PKCE S256 (`code_challenge`) where the provider supports it.
    pub pkce: bool,
    pub client_auth: ClientAuth,
    /// Extra fixed query parameters of the authorize URL (Apple's `response_mode=form_post`, ...).
    pub extra_authorize_params: &'static [(&'static str, &'static str)],
    /// Sends a `nonce` (OpenID Connect providers whose ID token is verified).
    pub nonce: bool,
    /// For providers whose profile comes from a verified ID token (Apple): its issuer and JWKS.
    pub id_token: Option<IdTokenSource>,
}

#[derive(Debug)]
pub struct IdTokenSource {
    pub issuer: &'static str,
    pub jwks_uri: &'static str,
}

/// Who signed in, as the provider says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// The provider's stable user id (`provider_account_id`).
    pub subject: String,
    pub email: Option<String>,
    /// Only `true` when the provider asserts it.
    pub email_verified: bool,
    pub name: Option<String>,
    pub image: Option<String>,
}

/// What the token endpoint answered, as the profile fetch may need it.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub access_token: String,
    /// The whole token response (Notion puts its owner there, Slack its ids, ...).
    pub raw: Value,
    /// The claims of the verified ID token, when there was one (Apple).
    pub id_claims: Option<Value>,
    /// Apple's form-POST `user` JSON (the name, sent on the first authorization only).
    pub apple_user: Option<Value>,
}

/// A provider answered something kavachos cannot use (message safe to show; never a token).
#[derive(Debug)]
pub struct ProfileError(pub String);

// ---------------------------------------------------------------------------------------------
// The providers.
//
// Sources: each provider's public OAuth / API documentation (URLs next to each entry) and
// better-auth's `packages/core/src/social-providers/*.ts` (default scopes and profile mapping).
// Where the two disagree, the provider's current documentation wins and the entry says so.
// ---------------------------------------------------------------------------------------------

/// Every first-class provider, sorted by id.
pub const ALL: &[Spec] = &[
    // https://developer.apple.com/documentation/sign_in_with_apple/request_an_authorization_to_the_sign_in_with_apple_server
    // https://developer.apple.com/documentation/sign_in_with_apple/generate_and_validate_tokens
    // Apple documents `client_secret_post` only and no PKCE parameters (its discovery document
    // has no `code_challenge_methods_supported`), so no PKCE here although better-auth sends
    // one. Asking for `name`/`email` requires `response_mode=form_post`.
    Spec {
        id: "apple",
        name: "Apple",
        authorization_endpoint: "https://appleid.apple.com/auth/authorize",
        token_endpoint: "https://appleid.apple.com/auth/token",
        default_scopes: &["name", "email"],
        scope_separator: " ",
        pkce: false,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[("response_mode", "form_post")],
        nonce: true,
        id_token: Some(IdTokenSource {
            issuer: "https://appleid.apple.com",
            jwks_uri: "https://appleid.apple.com/auth/keys",
        }),
    },
    // https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/
    // better-auth asks for `read:jira-user offline_access`; the User Identity API (`/me`) that
    // sign-in needs is documented with `read:me` (and `read:account` for the profile), so those.
    // Atlassian's 3LO documentation has no PKCE parameters: no PKCE (better-auth sends one).
    Spec {
        id: "atlassian",
        name: "Atlassian",
        authorization_endpoint: "https://auth.atlassian.com/authorize",
        token_endpoint: "https://auth.atlassian.com/oauth/token",
        default_scopes: &["read:me", "read:account"],
        scope_separator: " ",
        pkce: false,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[("audience", "api.atlassian.com"), ("prompt", "consent")],
        nonce: false,
        id_token: None,
    },
    // https://discord.com/developers/docs/topics/oauth2#shared-resources-oauth2-urls
    // Discord documents the authorize URL without `/api` (better-auth uses
    // `https://discord.com/api/oauth2/authorize`, which Discord also serves); the documented one
    // is used. `prompt=none` (as better-auth) skips the consent screen for returning users.
    Spec {
        id: "discord",
        name: "Discord",
        authorization_endpoint: "https://discord.com/oauth2/authorize",
        token_endpoint: "https://discord.com/api/oauth2/token",
        default_scopes: &["identify", "email"],
        scope_separator: " ",
        pkce: false,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[("prompt", "none")],
        nonce: false,
        id_token: None,
    },
    // https://www.dropbox.com/developers/documentation/http/documentation#oauth2-authorize
    Spec {
        id: "dropbox",
        name: "Dropbox",
        authorization_endpoint: "https://www.dropbox.com/oauth2/authorize",
        token_endpoint: "https://api.dropboxapi.com/oauth2/token",
        default_scopes: &["account_info.read"],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://developers.figma.com/docs/rest-api/oauth-apps/
    // Figma retired `https://www.figma.com/api/oauth/token` (2025); the token endpoint is now on
    // api.figma.com and takes the client credentials as HTTP Basic.
    Spec {
        id: "figma",
        name: "Figma",
        authorization_endpoint: "https://www.figma.com/oauth",
        token_endpoint: "https://api.figma.com/v1/oauth/token",
        default_scopes: &["current_user:read"],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Basic,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
    // GitHub accepts PKCE (S256) since 2025. Its token endpoint answers form-encoded unless the
    // request carries `Accept: application/json`.
    Spec {
        id: "github",
        name: "GitHub",
        authorization_endpoint: "https://github.com/login/oauth/authorize",
        token_endpoint: "https://github.com/login/oauth/access_token",
        default_scopes: &["read:user", "user:email"],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://docs.gitlab.com/api/oauth2/#authorization-code-with-proof-key-for-code-exchange-pkce
    Spec {
        id: "gitlab",
        name: "GitLab",
        authorization_endpoint: "https://gitlab.com/oauth/authorize",
        token_endpoint: "https://gitlab.com/oauth/token",
        default_scopes: &["read_user"],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://developers.google.com/identity/protocols/oauth2/web-server
    // https://developers.google.com/identity/openid-connect/openid-connect
    Spec {
        id: "google",
        name: "Google",
        authorization_endpoint: "https://accounts.google.com/o/oauth2/v2/auth",
        token_endpoint: "https://oauth2.googleapis.com/token",
        default_scopes: &["openid", "email", "profile"],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[("include_granted_scopes", "true")],
        nonce: false,
        id_token: None,
    },
    // https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2
    // LinkedIn takes the client credentials in the form body; PKCE is for native apps only.
    Spec {
        id: "linkedin",
        name: "LinkedIn",
        authorization_endpoint: "https://www.linkedin.com/oauth/v2/authorization",
        token_endpoint: "https://www.linkedin.com/oauth/v2/accessToken",
        default_scopes: &["openid", "profile", "email"],
        scope_separator: " ",
        pkce: false,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
    Spec {
        id: "microsoft",
        name: "Microsoft",
        authorization_endpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_endpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        default_scopes: &["openid", "profile", "email", "offline_access", "User.Read"],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://developers.notion.com/docs/authorization#public-integration-auth-flow-set-up
    // Notion has no scopes (capabilities are set on the integration).
    Spec {
        id: "notion",
        name: "Notion",
        authorization_endpoint: "https://api.notion.com/v1/oauth/authorize",
        token_endpoint: "https://api.notion.com/v1/oauth/token",
        default_scopes: &[],
        scope_separator: " ",
        pkce: false,
        client_auth: ClientAuth::Basic,
        extra_authorize_params: &[("owner", "user")],
        nonce: false,
        id_token: None,
    },
    // https://github.com/reddit-archive/reddit/wiki/OAuth2
    // Reddit's token endpoint also wants a descriptive `User-Agent`.
    Spec {
        id: "reddit",
        name: "Reddit",
        authorization_endpoint: "https://www.reddit.com/api/v1/authorize",
        token_endpoint: "https://www.reddit.com/api/v1/access_token",
        default_scopes: &["identity"],
        scope_separator: " ",
        pkce: false,
        client_auth: ClientAuth::Basic,
        extra_authorize_params: &[("duration", "permanent")],
        nonce: false,
        id_token: None,
    },
    // https://docs.slack.dev/authentication/sign-in-with-slack/
    Spec {
        id: "slack",
        name: "Slack",
        authorization_endpoint: "https://slack.com/openid/connect/authorize",
        token_endpoint: "https://slack.com/api/openid.connect.token",
        default_scopes: &["openid", "profile", "email"],
        scope_separator: " ",
        pkce: false,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://developer.spotify.com/documentation/web-api/tutorials/code-flow
    // Spotify documents HTTP Basic for the token request (better-auth posts the credentials in
    // the body, which Spotify also accepts); the documented Basic is used.
    Spec {
        id: "spotify",
        name: "Spotify",
        authorization_endpoint: "https://accounts.spotify.com/authorize",
        token_endpoint: "https://accounts.spotify.com/api/token",
        default_scopes: &["user-read-email"],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Basic,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://dev.twitch.tv/docs/authentication/getting-tokens-oidc/
    // Twitch's discovery document lists `client_secret_post` only. Twitch returns the email and
    // picture claims only when the `claims` parameter asks for them.
    Spec {
        id: "twitch",
        name: "Twitch",
        authorization_endpoint: "https://id.twitch.tv/oauth2/authorize",
        token_endpoint: "https://id.twitch.tv/oauth2/token",
        default_scopes: &["user:read:email", "openid"],
        scope_separator: " ",
        pkce: false,
        client_auth: ClientAuth::Post,
        extra_authorize_params: &[(
            "claims",
            r#"{"id_token":{"email":null,"email_verified":null},"userinfo":{"email":null,"email_verified":null,"picture":null,"preferred_username":null}}"#,
        )],
        nonce: false,
        id_token: None,
    },
    // https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token
    // PKCE is mandatory; confidential clients authenticate with HTTP Basic.
    Spec {
        id: "twitter",
        name: "X",
        authorization_endpoint: "https://x.com/i/oauth2/authorize",
        token_endpoint: "https://api.x.com/2/oauth2/token",
        default_scopes: &["users.read", "tweet.read", "offline.access", "users.email"],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Basic,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
    // https://developers.zoom.us/docs/integrations/oauth/
    // Zoom documents HTTP Basic for the token request (better-auth posts the credentials in the
    // body); the documented Basic is used. Zoom grants the scopes set on the app, so none are
    // asked for by default (as better-auth).
    Spec {
        id: "zoom",
        name: "Zoom",
        authorization_endpoint: "https://zoom.us/oauth/authorize",
        token_endpoint: "https://zoom.us/oauth/token",
        default_scopes: &[],
        scope_separator: " ",
        pkce: true,
        client_auth: ClientAuth::Basic,
        extra_authorize_params: &[],
        nonce: false,
        id_token: None,
    },
];

/// Every first-class provider (the same list as [`ALL`]).
pub fn all() -> &'static [Spec] {
    ALL
}

/// The first-class providers, by id.
pub fn spec(id: &str) -> Option<&'static Spec> {
    ALL.iter().find(|s| s.id == id)
}

// The profile endpoints.
const ATLASSIAN_ME: &str = "https://api.atlassian.com/me";
const DISCORD_ME: &str = "https://discord.com/api/users/@me";
const DROPBOX_ACCOUNT: &str = "https://api.dropboxapi.com/2/users/get_current_account";
const FIGMA_ME: &str = "https://api.figma.com/v1/me";
const GITHUB_USER: &str = "https://api.github.com/user";
const GITHUB_EMAILS: &str = "https://api.github.com/user/emails";
const GITLAB_USER: &str = "https://gitlab.com/api/v4/user";
const GOOGLE_USERINFO: &str = "https://openidconnect.googleapis.com/v1/userinfo";
const LINKEDIN_USERINFO: &str = "https://api.linkedin.com/v2/userinfo";
const MICROSOFT_USERINFO: &str = "https://graph.microsoft.com/oidc/userinfo";
const NOTION_ME: &str = "https://api.notion.com/v1/users/me";
const REDDIT_ME: &str = "https://oauth.reddit.com/api/v1/me";
const SLACK_USERINFO: &str = "https://slack.com/api/openid.connect.userInfo";
const SPOTIFY_ME: &str = "https://api.spotify.com/v1/me";
const TWITCH_USERINFO: &str = "https://id.twitch.tv/oauth2/userinfo";
const TWITTER_ME: &str = "https://api.x.com/2/users/me?user.fields=profile_image_url";
const TWITTER_EMAIL: &str = "https://api.x.com/2/users/me?user.fields=confirmed_email";
const ZOOM_ME: &str = "https://api.zoom.us/v2/users/me";

/// The `Notion-Version` the profile call is written against.
const NOTION_VERSION: &str = "2022-06-28";
/// GitHub and Reddit reject requests without a `User-Agent`; Reddit wants a descriptive one.
const USER_AGENT: &str = concat!("kavachos/", env!("CARGO_PKG_VERSION"), " (oauth sign-in)");
/// A profile answer larger than this is refused (they are a few KiB).
const MAX_BODY: usize = 1 << 20;

/// Fetches and maps the signed-in user's profile with the access token (GitHub's `/user` and
/// `/user/emails`, ...). `http` never follows redirects.
pub async fn fetch_profile(
    spec: &Spec,
    http: &reqwest::Client,
    tokens: &Tokens,
) -> Result<Profile, ProfileError> {
    fetch_profile_via(spec, http, tokens, &|url: &str| url.to_owned()).await
}

/// [`fetch_profile`] with every profile URL passed through `route` first (tests point them at
/// a local server).
async fn fetch_profile_via(
    spec: &Spec,
    http: &reqwest::Client,
    tokens: &Tokens,
    route: &(dyn Fn(&str) -> String + Sync),
) -> Result<Profile, ProfileError> {
    let id = spec.id;
    if id == "apple" {
        // Apple has no profile endpoint: the profile is the verified ID token's claims.
        let claims = tokens
            .id_claims
            .as_ref()
            .ok_or_else(|| ProfileError("apple: no verified ID token".to_owned()))?;
        return map_profile(id, claims, tokens, None);
    }
    if id == "notion" && tokens.raw.pointer("/owner/user/id").is_some() {
        // The token answer already names the person who authorized the integration.
        return map_profile(id, &tokens.raw, tokens, None);
    }
    let call = Caller {
        id,
        http,
        token: &tokens.access_token,
        route,
    };
    match id {
        "github" => {
            let user = call.get(GITHUB_USER, "/user").await?;
            // `/user` carries only the public email and no verified flag; `/user/emails` has
            // both. Without it (scope not granted, or an error) the public email stays
            // unverified.
            let emails = call.get(GITHUB_EMAILS, "/user/emails").await.ok();
            map_profile(id, &user, tokens, emails.as_ref())
        }
        "twitter" => {
            let me = call.get(TWITTER_ME, "/2/users/me").await?;
            // `confirmed_email` needs the `users.email` scope; without it there is no email.
            let email = call.get(TWITTER_EMAIL, "/2/users/me (email)").await.ok();
            map_profile(id, &me, tokens, email.as_ref())
        }
        "dropbox" => {
            // An RPC endpoint that takes no argument: no body and no Content-Type (Dropbox
            // rejects a form or empty-JSON content type here).
            let info = call
                .post_empty(DROPBOX_ACCOUNT, "get_current_account")
                .await?;
            map_profile(id, &info, tokens, None)
        }
        _ => {
            let url =
                profile_url(id).ok_or_else(|| ProfileError(format!("unknown provider `{id}`")))?;
            let info = call.get(url, "the profile endpoint").await?;
            map_profile(id, &info, tokens, None)
        }
    }
}

/// The single profile endpoint of the providers that have just one GET.
fn profile_url(id: &str) -> Option<&'static str> {
    Some(match id {
        "atlassian" => ATLASSIAN_ME,
        "discord" => DISCORD_ME,
        "figma" => FIGMA_ME,
        "gitlab" => GITLAB_USER,
        "google" => GOOGLE_USERINFO,
        "linkedin" => LINKEDIN_USERINFO,
        "microsoft" => MICROSOFT_USERINFO,
        "notion" => NOTION_ME,
        "reddit" => REDDIT_ME,
        "slack" => SLACK_USERINFO,
        "spotify" => SPOTIFY_ME,
        "twitch" => TWITCH_USERINFO,
        "zoom" => ZOOM_ME,
        _ => return None,
    })
}

/// The headers a provider's API needs besides the bearer token and `User-Agent`.
fn api_headers(id: &str) -> &'static [(&'static str, &'static str)] {
    match id {
        "github" => &[
            ("accept", "application/vnd.github+json"),
            ("x-github-api-version", "2022-11-28"),
        ],
        "notion" => &[
            ("accept", "application/json"),
            ("notion-version", NOTION_VERSION),
        ],
        _ => &[("accept", "application/json")],
    }
}

struct Caller<'a> {
    id: &'a str,
    http: &'a reqwest::Client,
    token: &'a str,
    route: &'a (dyn Fn(&str) -> String + Sync),
}

impl Caller<'_> {
    async fn get(&self, url: &str, what: &str) -> Result<Value, ProfileError> {
        self.call(reqwest::Method::GET, url, what).await
    }

    async fn post_empty(&self, url: &str, what: &str) -> Result<Value, ProfileError> {
        self.call(reqwest::Method::POST, url, what).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        what: &str,
    ) -> Result<Value, ProfileError> {
        let id = self.id;
        if self.token.is_empty() {
            return Err(ProfileError(format!("{id}: no access token")));
        }
        let mut bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.token))
            .map_err(|_| ProfileError(format!("{id}: the access token is not sendable")))?;
        bearer.set_sensitive(true);
        let mut request = self
            .http
            .request(method, (self.route)(url))
            .header(reqwest::header::AUTHORIZATION, bearer)
            .header(reqwest::header::USER_AGENT, USER_AGENT);
        for (name, value) in api_headers(id) {
            request = request.header(*name, *value);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| ProfileError(format!("{id}: {what}: {}", transport(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProfileError(format!(
                "{id}: {what} answered HTTP {}",
                status.as_u16()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ProfileError(format!("{id}: {what}: {}", transport(&e))))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ProfileError(format!("{id}: {what} answered too much")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|_| ProfileError(format!("{id}: {what} did not answer JSON")))
    }
}

/// What went wrong in transport, without the error's own text.
fn transport(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirected"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping (pure).
// ---------------------------------------------------------------------------------------------

/// Maps what provider `id` answered onto a [`Profile`].
///
/// `info` is the profile answer: the userinfo / "me" JSON; for Apple the verified ID token's
/// claims; for Notion the token answer, the `/v1/users/me` answer or the owner user object.
/// `extra` is the second answer of the providers that need two: GitHub's `/user/emails` list
/// and X's `confirmed_email` lookup. A profile without a user id is an error. Emails come back
/// as given (an empty one is `None`); `email_verified` is `true` only where the provider
/// asserts it; images are kept only as http(s) URLs.
pub fn map_profile(
    id: &str,
    info: &Value,
    tokens: &Tokens,
    extra: Option<&Value>,
) -> Result<Profile, ProfileError> {
    let missing = || ProfileError(format!("{id}: the profile has no user id"));
    let profile = match id {
        "apple" => {
            // The name comes from Apple's form-posted `user` JSON (first authorization only).
            // That JSON is not signed, so it never supplies the email.
            let name = tokens.apple_user.as_ref().and_then(|user| {
                join_name(
                    user.pointer("/name/firstName"),
                    user.pointer("/name/lastName"),
                )
            });
            Profile {
                subject: subject(info.get("sub")).ok_or_else(missing)?,
                email: text(info.get("email")),
                email_verified: truthy(info.get("email_verified")),
                name,
                image: None,
            }
        }
        "atlassian" => Profile {
            subject: subject(info.get("account_id")).ok_or_else(missing)?,
            email: text(info.get("email")),
            email_verified: truthy(info.get("email_verified")),
            name: name(info.get("name")).or_else(|| name(info.get("nickname"))),
            image: image(info.get("picture")),
        },
        "discord" => {
            let subject = subject(info.get("id")).ok_or_else(missing)?;
            Profile {
                image: discord_avatar(&subject, info),
                email: text(info.get("email")),
                email_verified: truthy(info.get("verified")),
                name: name(info.get("global_name")).or_else(|| name(info.get("username"))),
                subject,
            }
        }
        "dropbox" => Profile {
            subject: subject(info.get("account_id")).ok_or_else(missing)?,
            email: text(info.get("email")),
            email_verified: truthy(info.get("email_verified")),
            name: name(info.pointer("/name/display_name")),
            image: image(info.get("profile_photo_url")),
        },
        "figma" => Profile {
            subject: subject(info.get("id")).ok_or_else(missing)?,
            email: text(info.get("email")),
            // Figma does not say whether the email was verified.
            email_verified: false,
            name: name(info.get("handle")),
            image: image(info.get("img_url")),
        },
        "github" => {
            let subject = subject(info.get("id")).ok_or_else(missing)?;
            let (email, email_verified) = github_email(info, extra);
            Profile {
                subject,
                email,
                email_verified,
                name: name(info.get("name")).or_else(|| name(info.get("login"))),
                image: image(info.get("avatar_url")),
            }
        }
        "gitlab" => {
            if let Some(state) = info.get("state").and_then(Value::as_str) {
                if state != "active" {
                    return Err(ProfileError("gitlab: the account is not active".to_owned()));
                }
            }
            // better-auth reads an `email_verified` field that GitLab's `/user` does not have
            // (so never verified). GitLab.com only lets a confirmed address be the primary
            // `email`, and `confirmed_at` is set once the account's address is confirmed.
            Profile {
                subject: subject(info.get("id")).ok_or_else(missing)?,
                email: text(info.get("email")),
                email_verified: text(info.get("confirmed_at")).is_some(),
                name: name(info.get("name")).or_else(|| name(info.get("username"))),
                image: image(info.get("avatar_url")),
            }
        }
        "google" | "linkedin" => Profile {
            subject: subject(info.get("sub")).ok_or_else(missing)?,
            email: text(info.get("email")),
            email_verified: truthy(info.get("email_verified")),
            name: name(info.get("name"))
                .or_else(|| join_name(info.get("given_name"), info.get("family_name"))),
            image: image(info.get("picture")),
        },
        "microsoft" => Profile {
            subject: subject(info.get("sub")).ok_or_else(missing)?,
            email: text(info.get("email")),
            // Entra ID does not assert ownership of `email` (any tenant admin can set it:
            // "nOAuth"). Only an explicit `email_verified` or `xms_edov` (email domain owner
            // verified) counts.
            email_verified: truthy(info.get("email_verified")) || truthy(info.get("xms_edov")),
            name: name(info.get("name"))
                .or_else(|| join_name(info.get("given_name"), info.get("family_name"))),
            // `picture` is a Graph URL that itself needs the bearer token: useless as an image.
            image: None,
        },
        "notion" => {
            let user = info
                .pointer("/bot/owner/user")
                .or_else(|| info.pointer("/owner/user"))
                .or_else(|| {
                    (info.get("object").and_then(Value::as_str) == Some("user")
                        && info.get("type").and_then(Value::as_str) == Some("person"))
                    .then_some(info)
                })
                .ok_or_else(missing)?;
            Profile {
                subject: subject(user.get("id")).ok_or_else(missing)?,
                email: text(user.pointer("/person/email")),
                // Notion does not say whether the email was verified.
                email_verified: false,
                name: name(user.get("name")),
                image: image(user.get("avatar_url")),
            }
        }
        "reddit" => Profile {
            subject: subject(info.get("id")).ok_or_else(missing)?,
            // Reddit never shares the email.
            email: None,
            email_verified: false,
            name: name(info.get("name")),
            // `icon_img` carries HTML-escaped signing parameters; the bare URL serves the image.
            image: image(info.get("icon_img")).map(|url| match url.split_once('?') {
                Some((bare, _)) => bare.to_owned(),
                None => url,
            }),
        },
        "slack" => {
            // Slack answers errors as HTTP 200 `{"ok": false, "error": "..."}`.
            if info.get("ok").and_then(Value::as_bool) == Some(false) {
                let code = info
                    .get("error")
                    .and_then(Value::as_str)
                    .filter(|c| {
                        c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    })
                    .unwrap_or("unknown_error");
                return Err(ProfileError(format!("slack: {code}")));
            }
            Profile {
                subject: subject(info.get("sub"))
                    .or_else(|| subject(info.get("https://slack.com/user_id")))
                    .ok_or_else(missing)?,
                email: text(info.get("email")),
                email_verified: truthy(info.get("email_verified")),
                name: name(info.get("name"))
                    .or_else(|| join_name(info.get("given_name"), info.get("family_name"))),
                image: image(info.get("picture"))
                    .or_else(|| image(info.get("https://slack.com/user_image_512"))),
            }
        }
        "spotify" => Profile {
            // Spotify's docs (May 2026) say to link accounts by the immutable `account_id`, not
            // `id`; `id` only where an answer has no `account_id`.
            subject: subject(info.get("account_id"))
                .or_else(|| subject(info.get("id")))
                .ok_or_else(missing)?,
            email: text(info.get("email")),
            // "This email address is unverified" (Spotify's docs).
            email_verified: false,
            name: name(info.get("display_name")),
            image: image(info.pointer("/images/0/url")),
        },
        "twitch" => Profile {
            subject: subject(info.get("sub")).ok_or_else(missing)?,
            email: text(info.get("email")),
            email_verified: truthy(info.get("email_verified")),
            name: name(info.get("preferred_username")),
            image: image(info.get("picture")),
        },
        "twitter" => {
            // The email is the one X reports as confirmed, so it is verified when present.
            let email = extra.and_then(|e| text(e.pointer("/data/confirmed_email")));
            Profile {
                subject: subject(info.pointer("/data/id")).ok_or_else(missing)?,
                email_verified: email.is_some(),
                email,
                name: name(info.pointer("/data/name"))
                    .or_else(|| name(info.pointer("/data/username"))),
                image: image(info.pointer("/data/profile_image_url")),
            }
        }
        "zoom" => Profile {
            subject: subject(info.get("id")).ok_or_else(missing)?,
            email: text(info.get("email")),
            // `verified`: 1 = account verified, 0 = not.
            email_verified: info.get("verified").and_then(Value::as_i64) == Some(1)
                || truthy(info.get("verified")),
            name: name(info.get("display_name"))
                .or_else(|| join_name(info.get("first_name"), info.get("last_name"))),
            image: image(info.get("pic_url")),
        },
        other => return Err(ProfileError(format!("unknown provider `{other}`"))),
    };
    Ok(profile)
}

/// GitHub: the primary address of `/user/emails` and its verified flag; else the public
/// `/user` email, verified only if the list says so.
fn github_email(user: &Value, emails: Option<&Value>) -> (Option<String>, bool) {
    let list = emails.and_then(Value::as_array);
    let primary = list
        .and_then(|l| l.iter().find(|e| truthy(e.get("primary"))))
        .and_then(|p| text(p.get("email")).map(|email| (email, truthy(p.get("verified")))));
    if let Some((email, verified)) = primary {
        return (Some(email), verified);
    }
    let public = text(user.get("email"));
    let verified = match (&public, list) {
        (Some(email), Some(list)) => list.iter().any(|e| {
            e.get("email").and_then(Value::as_str) == Some(email.as_str())
                && truthy(e.get("verified"))
        }),
        _ => false,
    };
    (public, verified)
}

/// Discord's avatar URL, or the default avatar when the user has none.
/// <https://discord.com/developers/docs/reference#image-formatting>
fn discord_avatar(user_id: &str, info: &Value) -> Option<String> {
    if !user_id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(hash) = info.get("avatar").and_then(Value::as_str) {
        if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        let ext = if hash.starts_with("a_") { "gif" } else { "png" };
        return Some(format!(
            "https://cdn.discordapp.com/avatars/{user_id}/{hash}.{ext}"
        ));
    }
    let index = match info.get("discriminator").and_then(Value::as_str) {
        Some(d) if d != "0" => d.parse::<u64>().ok()? % 5,
        _ => (user_id.parse::<u64>().ok()? >> 22) % 6,
    };
    Some(format!(
        "https://cdn.discordapp.com/embed/avatars/{index}.png"
    ))
}

/// A provider's user id: a non-blank string, or an integer (GitHub, GitLab).
fn subject(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// A non-blank string, as given.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A non-blank display name, trimmed.
fn name(v: Option<&Value>) -> Option<String> {
    text(v).map(|s| s.trim().to_owned())
}

/// "First Last" from two optional parts.
fn join_name(first: Option<&Value>, last: Option<&Value>) -> Option<String> {
    let joined = [name(first), name(last)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}

/// An http(s) image URL.
fn image(v: Option<&Value>) -> Option<String> {
    let url = text(v)?;
    let scheme = url.chars().take(8).collect::<String>().to_ascii_lowercase();
    (scheme.starts_with("https://") || scheme.starts_with("http://")).then_some(url)
}

/// `true`, or the string `"true"` (Apple's and Google's ID tokens use the string form).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IDS: [&str; 17] = [
        "apple",
        "atlassian",
        "discord",
        "dropbox",
        "figma",
        "github",
        "gitlab",
        "google",
        "linkedin",
        "microsoft",
        "notion",
        "reddit",
        "slack",
        "spotify",
        "twitch",
        "twitter",
        "zoom",
    ];

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    fn no_tokens() -> Tokens {
        Tokens::default()
    }

    fn map(id: &str, info: Value) -> Profile {
        map_profile(id, &info, &no_tokens(), None).unwrap()
    }

    fn check(
        p: &Profile,
        subject: &str,
        email: Option<&str>,
        verified: bool,
        name: Option<&str>,
        image: Option<&str>,
    ) {
        assert_eq!(p.subject, subject);
        assert_eq!(p.email.as_deref(), email);
        assert_eq!(p.email_verified, verified);
        assert_eq!(p.name.as_deref(), name);
        assert_eq!(p.image.as_deref(), image);
    }

    // ---- specs --------------------------------------------------------------------------

    /// The provider's own registrable domains.
    fn own_domains(id: &str) -> &'static [&'static str] {
        match id {
            "apple" => &["apple.com"],
            "atlassian" => &["atlassian.com"],
            "discord" => &["discord.com"],
            "dropbox" => &["dropbox.com", "dropboxapi.com"],
            "figma" => &["figma.com"],
            "github" => &["github.com"],
            "gitlab" => &["gitlab.com"],
            "google" => &["google.com", "googleapis.com"],
            "linkedin" => &["linkedin.com"],
            "microsoft" => &["microsoftonline.com"],
            "notion" => &["notion.com"],
            "reddit" => &["reddit.com"],
            "slack" => &["slack.com"],
            "spotify" => &["spotify.com"],
            "twitch" => &["twitch.tv"],
            "twitter" => &["x.com"],
            "zoom" => &["zoom.us"],
            _ => &[],
        }
    }

    fn host_of(url: &str) -> &str {
        let rest = url.strip_prefix("https://").unwrap();
        rest.split(['/', '?']).next().unwrap()
    }

    fn on_own_host(id: &str, url: &str) -> bool {
        let host = host_of(url);
        own_domains(id)
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    }

    #[test]
    fn every_first_class_provider_has_a_spec_on_its_own_https_hosts() {
        assert_eq!(ALL.len(), IDS.len());
        assert_eq!(all().len(), IDS.len());
        for id in IDS {
            let s = spec(id).unwrap_or_else(|| panic!("no spec for {id}"));
            assert_eq!(s.id, id);
            assert!(!s.name.is_empty());
            for url in [s.authorization_endpoint, s.token_endpoint] {
                assert!(url.starts_with("https://"), "{id}: {url}");
                assert!(on_own_host(id, url), "{id}: {url} is not on its own host");
            }
            assert!(!s.scope_separator.is_empty());
            if let Some(src) = &s.id_token {
                assert!(on_own_host(id, src.issuer) && on_own_host(id, src.jwks_uri));
            }
            for (k, v) in s.extra_authorize_params {
                assert!(!k.is_empty() && !v.is_empty(), "{id}");
            }
        }
        // Sorted and unique.
        let ids: Vec<_> = ALL.iter().map(|s| s.id).collect();
        assert_eq!(ids, IDS.to_vec());
    }

    #[test]
    fn profile_endpoints_are_https_on_the_providers_own_hosts() {
        for id in IDS {
            let urls: Vec<&str> = match id {
                "apple" => vec![],
                "github" => vec![GITHUB_USER, GITHUB_EMAILS],
                "twitter" => vec![TWITTER_ME, TWITTER_EMAIL],
                "dropbox" => vec![DROPBOX_ACCOUNT],
                other => vec![profile_url(other).unwrap()],
            };
            for url in urls {
                assert!(url.starts_with("https://"), "{id}: {url}");
                let host = host_of(url);
                let own = own_domains(id).iter().any(|d| host.ends_with(d))
                    || (id == "microsoft" && host == "graph.microsoft.com")
                    || (id == "twitter" && host == "api.x.com");
                assert!(own, "{id}: {url}");
            }
        }
    }

    #[test]
    fn unknown_ids_have_no_spec() {
        assert!(spec("myspace").is_none());
        assert!(spec("").is_none());
        assert!(spec("GitHub").is_none());
        assert!(spec("github ").is_none());
        assert!(map_profile("myspace", &json!({"id": "1"}), &no_tokens(), None).is_err());
    }

    #[test]
    fn spec_details_that_the_flow_relies_on() {
        let apple = spec("apple").unwrap();
        assert!(apple.nonce);
        assert_eq!(
            apple.extra_authorize_params,
            &[("response_mode", "form_post")]
        );
        let src = apple.id_token.as_ref().unwrap();
        assert_eq!(src.issuer, "https://appleid.apple.com");
        assert_eq!(src.jwks_uri, "https://appleid.apple.com/auth/keys");
        assert!(ALL
            .iter()
            .filter(|s| s.id != "apple")
            .all(|s| s.id_token.is_none()));

        let twitter = spec("twitter").unwrap();
        assert!(twitter.pkce);
        assert_eq!(twitter.client_auth, ClientAuth::Basic);
        for id in ["reddit", "notion", "zoom", "figma", "spotify"] {
            assert_eq!(spec(id).unwrap().client_auth, ClientAuth::Basic, "{id}");
        }
        assert!(spec("reddit")
            .unwrap()
            .extra_authorize_params
            .contains(&("duration", "permanent")));
        assert!(spec("notion")
            .unwrap()
            .extra_authorize_params
            .contains(&("owner", "user")));
        let atlassian = spec("atlassian").unwrap().extra_authorize_params;
        assert!(atlassian.contains(&("audience", "api.atlassian.com")));
        assert!(atlassian.contains(&("prompt", "consent")));

        // Twitch's `claims` parameter is JSON asking for the userinfo email and picture.
        let claims = spec("twitch")
            .unwrap()
            .extra_authorize_params
            .iter()
            .find(|(k, _)| *k == "claims")
            .unwrap()
            .1;
        let claims: Value = serde_json::from_str(claims).unwrap();
        for claim in ["email", "email_verified", "picture", "preferred_username"] {
            assert!(claims["userinfo"].get(claim).is_some(), "{claim}");
        }

        assert_eq!(
            spec("microsoft").unwrap().default_scopes,
            &["openid", "profile", "email", "offline_access", "User.Read"]
        );
        assert_eq!(
            spec("github").unwrap().default_scopes,
            &["read:user", "user:email"]
        );
        assert_eq!(
            spec("google").unwrap().default_scopes,
            &["openid", "email", "profile"]
        );
        assert_eq!(spec("apple").unwrap().default_scopes, &["name", "email"]);
    }

    // ---- mapping, on the providers' documented example answers --------------------------

    // https://developer.apple.com/documentation/sign_in_with_apple/authenticating-users-with-sign-in-with-apple
    // (identity token claims) and, for the `user` form field,
    // https://developer.apple.com/documentation/sign_in_with_apple/incorporating-sign-in-with-apple-into-other-platforms
    #[test]
    fn apple_maps_the_id_token_claims_and_the_form_posted_name() {
        let tokens = Tokens {
            id_claims: Some(parse(
                r#"{
                "iss": "https://appleid.apple.com",
                "aud": "com.example.web",
                "exp": 1700003600,
                "iat": 1700000000,
                "sub": "001234.56789abcdef0123456789abcdef012.3456",
                "nonce": "2a7b6c",
                "nonce_supported": true,
                "c_hash": "E_lw0wdFbQYbbZ5Jdm6q-g",
                "email": "jh8f2kqxyz@privaterelay.appleid.com",
                "email_verified": "true",
                "is_private_email": "true",
                "real_user_status": 2,
                "auth_time": 1700000000
            }"#,
            )),
            apple_user: Some(json!({
                "name": { "firstName": "John", "lastName": "Appleseed" },
                "email": "jh8f2kqxyz@privaterelay.appleid.com"
            })),
            ..Tokens::default()
        };
        let claims = tokens.id_claims.clone().unwrap();
        let p = map_profile("apple", &claims, &tokens, None).unwrap();
        check(
            &p,
            "001234.56789abcdef0123456789abcdef012.3456",
            Some("jh8f2kqxyz@privaterelay.appleid.com"),
            true,
            Some("John Appleseed"),
            None,
        );
    }

    #[test]
    fn apple_email_verified_as_bool_and_never_from_the_unsigned_form_field() {
        let claims = json!({"sub": "001.a.1", "email": "a@example.com", "email_verified": true});
        let p = map("apple", claims);
        assert!(p.email_verified);
        assert_eq!(p.name, None);

        let claims = json!({"sub": "001.a.1", "email_verified": "false"});
        let tokens = Tokens {
            apple_user: Some(json!({"name": {"firstName": "Eve"}, "email": "victim@example.com"})),
            ..Tokens::default()
        };
        let p = map_profile("apple", &claims, &tokens, None).unwrap();
        assert_eq!(p.email, None);
        assert!(!p.email_verified);
        assert_eq!(p.name.as_deref(), Some("Eve"));
    }

    // https://developer.atlassian.com/cloud/oauth/getting-started/faq (User Identity API
    // example response).
    #[test]
    fn atlassian_maps_the_documented_me_answer() {
        let p = map(
            "atlassian",
            parse(
                r#"{
                "account_type": "atlassian",
                "account_id": "112233aa-bb11-cc22-33dd-445566abcabc",
                "email": "mia@example.com",
                "name": "Mia Krystof",
                "picture": "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/112233aa-bb11-cc22-33dd-445566abcabc/1234abcd-9876-54aa-33aa-1234dfsade9487ds",
                "account_status": "active",
                "nickname": "mkrystof",
                "zoneinfo": "Australia/Sydney",
                "locale": "en-US",
                "extended_profile": {
                    "job_title": "Designer",
                    "organization": "mia@example.com",
                    "department": "Design team",
                    "location": "Sydney"
                }
            }"#,
            ),
        );
        check(
            &p,
            "112233aa-bb11-cc22-33dd-445566abcabc",
            Some("mia@example.com"),
            false,
            Some("Mia Krystof"),
            Some("https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/112233aa-bb11-cc22-33dd-445566abcabc/1234abcd-9876-54aa-33aa-1234dfsade9487ds"),
        );
        let p = map(
            "atlassian",
            json!({"account_id": "1", "email": "a@b.c", "email_verified": true}),
        );
        assert!(p.email_verified);
    }

    // https://discord.com/developers/docs/resources/user#user-object-example-user
    #[test]
    fn discord_maps_the_documented_example_user() {
        let p = map(
            "discord",
            parse(
                r#"{
                "id": "80351110224678912",
                "username": "Nelly",
                "discriminator": "1337",
                "avatar": "8342729096ea3675442027381ff50dfe",
                "verified": true,
                "email": "nelly@discord.com",
                "flags": 64,
                "banner": "06c16474723fe537c283b8efa61a30c8",
                "accent_color": 16711680,
                "premium_type": 1,
                "public_flags": 64,
                "avatar_decoration_data": {
                    "sku_id": "1144058844004233369",
                    "asset": "a_fed43ab12698df65902ba06727e20c0e"
                }
            }"#,
            ),
        );
        check(
            &p,
            "80351110224678912",
            Some("nelly@discord.com"),
            true,
            Some("Nelly"),
            Some("https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"),
        );
    }

    #[test]
    fn discord_global_name_animated_and_default_avatars() {
        let p = map(
            "discord",
            json!({"id": "80351110224678912", "username": "nelly", "global_name": "Nelly N",
                   "discriminator": "0", "avatar": "a_1269e74af4df7417b13759eae50c83dc",
                   "verified": false, "email": ""}),
        );
        assert_eq!(p.name.as_deref(), Some("Nelly N"));
        assert_eq!(p.email, None);
        assert!(!p.email_verified);
        assert!(p
            .image
            .unwrap()
            .ends_with("/a_1269e74af4df7417b13759eae50c83dc.gif"));

        // New usernames: (id >> 22) % 6; legacy: discriminator % 5.
        let p = map(
            "discord",
            json!({"id": "80351110224678912", "discriminator": "0", "avatar": null}),
        );
        let n = (80_351_110_224_678_912_u64 >> 22) % 6;
        assert_eq!(
            p.image,
            Some(format!("https://cdn.discordapp.com/embed/avatars/{n}.png"))
        );
        let p = map(
            "discord",
            json!({"id": "1", "discriminator": "1337", "avatar": null}),
        );
        assert_eq!(
            p.image.as_deref(),
            Some("https://cdn.discordapp.com/embed/avatars/2.png")
        );
        // A hash that is not one is not spliced into a URL.
        let p = map("discord", json!({"id": "1", "avatar": "../../evil?x"}));
        assert_eq!(p.image, None);
    }

    // https://www.dropbox.com/developers/documentation/http/documentation#users-get_current_account
    #[test]
    fn dropbox_maps_the_documented_get_current_account_example() {
        let p = map(
            "dropbox",
            parse(
                r#"{
                "account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
                "name": {
                    "given_name": "Franz",
                    "surname": "Ferdinand",
                    "familiar_name": "Franz",
                    "display_name": "Franz Ferdinand (Personal)",
                    "abbreviated_name": "FF"
                },
                "email": "franz@dropbox.com",
                "email_verified": true,
                "disabled": false,
                "locale": "en",
                "referral_link": "https://db.tt/ZITNuhtI",
                "is_paired": true,
                "account_type": { ".tag": "business" },
                "root_info": {
                    ".tag": "user",
                    "root_namespace_id": "3235641",
                    "home_namespace_id": "3235641"
                },
                "country": "US",
                "team": {
                    "id": "dbtid:AAFdgehTzw7WlXhZJsbGCLePe8RvQGYDr-I",
                    "name": "Acme, Inc.",
                    "sharing_policies": {
                        "shared_folder_member_policy": { ".tag": "team" },
                        "shared_folder_join_policy": { ".tag": "from_anyone" },
                        "shared_link_create_policy": { ".tag": "team_only" }
                    },
                    "office_addin_policy": { ".tag": "disabled" }
                },
                "team_member_id": "dbmid:AAHhy7WsR0x-u4ZCqiDl5Fz5zvuL3kmspwU",
                "profile_photo_url": "https://dl-web.dropbox.com/account_photo/get/dbaphid%3AAAHWGmIXV3sUuOmBfTz0wPsiqHUpBWvv3ZA?vers=1556069330102&size=128x128"
            }"#,
            ),
        );
        check(
            &p,
            "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
            Some("franz@dropbox.com"),
            true,
            Some("Franz Ferdinand (Personal)"),
            Some("https://dl-web.dropbox.com/account_photo/get/dbaphid%3AAAHWGmIXV3sUuOmBfTz0wPsiqHUpBWvv3ZA?vers=1556069330102&size=128x128"),
        );
    }

    // https://developers.figma.com/docs/rest-api/users-types/ and
    // https://developers.figma.com/docs/rest-api/users-endpoints/ (GET /v1/me)
    #[test]
    fn figma_maps_the_documented_user_and_never_asserts_the_email() {
        let p = map(
            "figma",
            json!({
                "id": "1234567890123456789",
                "handle": "Jane Designer",
                "img_url": "https://s3-alpha.figma.com/profile/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
                "email": "jane@example.com"
            }),
        );
        check(
            &p,
            "1234567890123456789",
            Some("jane@example.com"),
            false,
            Some("Jane Designer"),
            Some("https://s3-alpha.figma.com/profile/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"),
        );
    }

    // https://docs.github.com/en/rest/users/users#get-the-authenticated-user
    fn github_user_example() -> Value {
        parse(
            r#"{
            "login": "octocat",
            "id": 1,
            "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://github.com/images/error/octocat_happy.gif",
            "gravatar_id": "",
            "url": "https://api.github.com/users/octocat",
            "html_url": "https://github.com/octocat",
            "followers_url": "https://api.github.com/users/octocat/followers",
            "following_url": "https://api.github.com/users/octocat/following{/other_user}",
            "gists_url": "https://api.github.com/users/octocat/gists{/gist_id}",
            "starred_url": "https://api.github.com/users/octocat/starred{/owner}{/repo}",
            "subscriptions_url": "https://api.github.com/users/octocat/subscriptions",
            "organizations_url": "https://api.github.com/users/octocat/orgs",
            "repos_url": "https://api.github.com/users/octocat/repos",
            "events_url": "https://api.github.com/users/octocat/events{/privacy}",
            "received_events_url": "https://api.github.com/users/octocat/received_events",
            "type": "User",
            "site_admin": false,
            "name": "monalisa octocat",
            "company": "GitHub",
            "blog": "https://github.com/blog",
            "location": "San Francisco",
            "email": "octocat@github.com",
            "hireable": false,
            "bio": "There once was...",
            "twitter_username": "monatheoctocat",
            "public_repos": 2,
            "public_gists": 1,
            "followers": 20,
            "following": 0,
            "created_at": "2008-01-14T04:33:35Z",
            "updated_at": "2008-01-14T04:33:35Z",
            "private_gists": 81,
            "total_private_repos": 100,
            "owned_private_repos": 100,
            "disk_usage": 10000,
            "collaborators": 8,
            "two_factor_authentication": true,
            "plan": {
                "name": "Medium",
                "space": 400,
                "private_repos": 20,
                "collaborators": 0
            }
        }"#,
        )
    }

    // https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user
    fn github_emails_example() -> Value {
        json!([
            {
                "email": "octocat@github.com",
                "verified": true,
                "primary": true,
                "visibility": "public"
            }
        ])
    }

    #[test]
    fn github_maps_the_documented_user_and_emails() {
        let emails = github_emails_example();
        let p = map_profile(
            "github",
            &github_user_example(),
            &no_tokens(),
            Some(&emails),
        )
        .unwrap();
        check(
            &p,
            "1",
            Some("octocat@github.com"),
            true,
            Some("monalisa octocat"),
            Some("https://github.com/images/error/octocat_happy.gif"),
        );
    }

    #[test]
    fn github_prefers_the_primary_address_and_never_guesses_verification() {
        let user = json!({"id": 42, "login": "mona", "email": null, "avatar_url": ""});
        let emails = json!([
            {"email": "old@example.com", "verified": true, "primary": false},
            {"email": "mona@example.com", "verified": false, "primary": true}
        ]);
        let p = map_profile("github", &user, &no_tokens(), Some(&emails)).unwrap();
        check(
            &p,
            "42",
            Some("mona@example.com"),
            false,
            Some("mona"),
            None,
        );

        // No /user/emails answer: the public email, unverified.
        let p = map_profile("github", &github_user_example(), &no_tokens(), None).unwrap();
        assert_eq!(p.email.as_deref(), Some("octocat@github.com"));
        assert!(!p.email_verified);
        // An error object instead of a list is no list.
        let err = json!({"message": "Not Found"});
        let p = map_profile("github", &github_user_example(), &no_tokens(), Some(&err)).unwrap();
        assert!(!p.email_verified);
    }

    // https://docs.gitlab.com/api/users/#get-the-current-user
    #[test]
    fn gitlab_maps_the_documented_current_user() {
        let p = map(
            "gitlab",
            parse(
                r#"{
                "id": 1,
                "username": "john_smith",
                "email": "john@example.com",
                "name": "John Smith",
                "state": "active",
                "locked": false,
                "avatar_url": "http://localhost:3000/uploads/user/avatar/1/index.jpg",
                "web_url": "http://localhost:3000/john_smith",
                "created_at": "2012-05-23T08:00:58Z",
                "bio": "",
                "location": null,
                "public_email": "john@example.com",
                "linkedin": "",
                "twitter": "",
                "discord": "",
                "website_url": "",
                "organization": "",
                "job_title": "",
                "pronouns": "he/him",
                "bot": false,
                "work_information": null,
                "followers": 0,
                "following": 0,
                "local_time": "3:38 PM",
                "last_sign_in_at": "2012-06-01T11:41:01Z",
                "confirmed_at": "2012-05-23T09:05:22Z",
                "theme_id": 1,
                "last_activity_on": "2012-05-23",
                "color_scheme_id": 2,
                "projects_limit": 100,
                "current_sign_in_at": "2012-06-02T06:36:55Z",
                "identities": [
                    {"provider": "github", "extern_uid": "2435223452345"},
                    {"provider": "bitbucket", "extern_uid": "john_smith"}
                ],
                "can_create_group": true,
                "can_create_project": true,
                "two_factor_enabled": true,
                "external": false,
                "private_profile": false,
                "commit_email": "admin@example.com"
            }"#,
            ),
        );
        check(
            &p,
            "1",
            Some("john@example.com"),
            true,
            Some("John Smith"),
            Some("http://localhost:3000/uploads/user/avatar/1/index.jpg"),
        );
    }

    #[test]
    fn gitlab_unconfirmed_is_unverified_and_blocked_is_refused() {
        let p = map(
            "gitlab",
            json!({"id": 7, "username": "x", "email": "x@example.com", "confirmed_at": null}),
        );
        assert!(!p.email_verified);
        assert_eq!(p.name.as_deref(), Some("x"));
        let r = map_profile(
            "gitlab",
            &json!({"id": 7, "state": "blocked"}),
            &no_tokens(),
            None,
        );
        assert!(r.is_err());
    }

    // https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload
    // (the userinfo endpoint answers the same claims; Google documents `email_verified` there in
    // the string form).
    #[test]
    fn google_maps_the_documented_claims() {
        let p = map(
            "google",
            parse(
                r#"{
                "iss": "https://accounts.google.com",
                "azp": "1234987819200.apps.googleusercontent.com",
                "aud": "1234987819200.apps.googleusercontent.com",
                "sub": "10769150350006150715113082367",
                "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
                "hd": "example.com",
                "email": "jsmith@example.com",
                "email_verified": "true",
                "iat": 1353601026,
                "exp": 1353604926,
                "nonce": "0394852-3190485-2490358",
                "name": "John Smith",
                "given_name": "John",
                "family_name": "Smith",
                "picture": "https://lh3.googleusercontent.com/a/ACg8ocJ1234567890abcdefg=s96-c",
                "locale": "en"
            }"#,
            ),
        );
        check(
            &p,
            "10769150350006150715113082367",
            Some("jsmith@example.com"),
            true,
            Some("John Smith"),
            Some("https://lh3.googleusercontent.com/a/ACg8ocJ1234567890abcdefg=s96-c"),
        );
        let p = map(
            "google",
            json!({"sub": "1", "email": "a@b.c", "email_verified": false, "given_name": "Ann"}),
        );
        assert!(!p.email_verified);
        assert_eq!(p.name.as_deref(), Some("Ann"));
    }

    // https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2#api-response
    #[test]
    fn linkedin_maps_the_documented_userinfo() {
        let p = map(
            "linkedin",
            json!({
                "sub": "782bbtaQ",
                "name": "John Doe",
                "given_name": "John",
                "family_name": "Doe",
                "picture": "https://media.licdn-ei.com/dms/image/C5F03AQHqK8v7tB1HCQ/profile-displayphoto-shrink_100_100/0/",
                "locale": "en-US",
                "email": "doe@email.com",
                "email_verified": true
            }),
        );
        check(
            &p,
            "782bbtaQ",
            Some("doe@email.com"),
            true,
            Some("John Doe"),
            Some("https://media.licdn-ei.com/dms/image/C5F03AQHqK8v7tB1HCQ/profile-displayphoto-shrink_100_100/0/"),
        );
    }

    // https://learn.microsoft.com/en-us/entra/identity-platform/userinfo#userinfo-response
    #[test]
    fn microsoft_maps_the_documented_userinfo_without_trusting_the_email() {
        let p = map(
            "microsoft",
            json!({
                "sub": "OLu859SGc2Sr9ZsqbkG-QbeLgJlb41KcdiPoLYNpSFA",
                "name": "Mikah Ollenburg",
                "family_name": "Ollenburg",
                "given_name": "Mikah",
                "picture": "https://graph.microsoft.com/v1.0/me/photo/$value",
                "email": "mikoll@contoso.com"
            }),
        );
        // nOAuth: an email without an ownership assertion is not verified.
        check(
            &p,
            "OLu859SGc2Sr9ZsqbkG-QbeLgJlb41KcdiPoLYNpSFA",
            Some("mikoll@contoso.com"),
            false,
            Some("Mikah Ollenburg"),
            None,
        );
    }

    #[test]
    fn microsoft_verified_only_on_email_verified_or_xms_edov() {
        let base = json!({"sub": "s", "email": "a@contoso.com"});
        for (extra, verified) in [
            (json!({"email_verified": true}), true),
            (json!({"xms_edov": true}), true),
            (json!({"xms_edov": "true"}), true),
            (json!({"email_verified": false, "xms_edov": false}), false),
            (json!({"email_verified": 1}), false),
            (json!({"verified_primary_email": ["a@contoso.com"]}), false),
        ] {
            let mut info = base.clone();
            info.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            assert_eq!(map("microsoft", info).email_verified, verified, "{extra}");
        }
    }

    // https://developers.notion.com/reference/get-self
    #[test]
    fn notion_maps_the_documented_bot_user_owner() {
        let p = map(
            "notion",
            parse(
                r#"{
                "object": "user",
                "id": "16d84278-ab0e-484c-9bdd-b35da3bd8905",
                "name": "pied piper",
                "avatar_url": null,
                "type": "bot",
                "bot": {
                    "owner": {
                        "type": "user",
                        "user": {
                            "object": "user",
                            "id": "5389a034-eb5c-47b5-8a9e-f79c99ef166c",
                            "name": "christine makenotion",
                            "avatar_url": null,
                            "type": "person",
                            "person": {
                                "email": "christine@makenotion.com"
                            }
                        }
                    }
                }
            }"#,
            ),
        );
        check(
            &p,
            "5389a034-eb5c-47b5-8a9e-f79c99ef166c",
            Some("christine@makenotion.com"),
            false,
            Some("christine makenotion"),
            None,
        );
    }

    // https://developers.notion.com/docs/authorization (token answer, `owner.type = "user"`)
    #[test]
    fn notion_maps_the_token_answer_owner_and_refuses_a_workspace_owner() {
        let raw = parse(
            r#"{
            "access_token": "secret-token-abc",
            "token_type": "bearer",
            "bot_id": "b3414d659-1224-5ty7-6ffr-cc9d8773drt601288f",
            "workspace_name": "Ada's Notion Workspace",
            "workspace_icon": "https://website.domain/images/image.png",
            "workspace_id": "j565j4d7x3-2882-61bs-564a-jj9d9ui-c36hxfr7x",
            "owner": {
                "type": "user",
                "user": {
                    "object": "user",
                    "id": "6794760a-1f15-45cd-9c65-0dfe42f5135a",
                    "name": "Ada Lovelace",
                    "avatar_url": "https://s3-us-west-2.amazonaws.com/public.notion-static.com/ada.png",
                    "type": "person",
                    "person": { "email": "ada@example.com" }
                }
            },
            "duplicated_template_id": null
        }"#,
        );
        let p = map("notion", raw);
        check(
            &p,
            "6794760a-1f15-45cd-9c65-0dfe42f5135a",
            Some("ada@example.com"),
            false,
            Some("Ada Lovelace"),
            Some("https://s3-us-west-2.amazonaws.com/public.notion-static.com/ada.png"),
        );
        let workspace = json!({"object": "user", "id": "b", "type": "bot",
                               "bot": {"owner": {"type": "workspace", "workspace": true}}});
        assert!(map_profile("notion", &workspace, &no_tokens(), None).is_err());
    }

    // https://www.reddit.com/dev/api/#GET_api_v1_me (field list; no example is published, so
    // this is the answer's documented shape).
    #[test]
    fn reddit_maps_the_identity_without_an_email() {
        let p = map(
            "reddit",
            json!({
                "id": "1w72",
                "name": "spez",
                "icon_img": "https://styles.redditmedia.com/t5_3k30p/styles/profileIcon_snoo.png?width=256&amp;height=256&amp;crop=256:256,smart&amp;s=abc",
                "has_verified_email": true,
                "verified": true,
                "oauth_client_id": "shared-app-client-id",
                "created_utc": 1_118_030_400.0,
                "link_karma": 171_009,
                "comment_karma": 755_036
            }),
        );
        check(
            &p,
            "1w72",
            None,
            false,
            Some("spez"),
            Some("https://styles.redditmedia.com/t5_3k30p/styles/profileIcon_snoo.png"),
        );
    }

    // https://docs.slack.dev/reference/methods/openid.connect.userInfo#examples
    #[test]
    fn slack_maps_the_documented_userinfo() {
        let p = map(
            "slack",
            parse(
                r#"{
                "ok": true,
                "sub": "U0R7JM",
                "https://slack.com/user_id": "U0R7JM",
                "https://slack.com/team_id": "T0R7GR",
                "email": "krane@slack-corp.com",
                "email_verified": true,
                "date_email_verified": 1622128723,
                "name": "krane",
                "picture": "https://secure.gravatar.com/avatar/bc1e6e30a0a1e1d2a2e8e4e62ec0e1d4.png",
                "given_name": "Bront",
                "family_name": "Labradoodle",
                "locale": "en-US",
                "https://slack.com/team_name": "kraneflannel",
                "https://slack.com/team_domain": "kraneflannel",
                "https://slack.com/user_image_24": "...",
                "https://slack.com/user_image_32": "...",
                "https://slack.com/user_image_48": "...",
                "https://slack.com/user_image_72": "...",
                "https://slack.com/user_image_192": "...",
                "https://slack.com/user_image_512": "...",
                "https://slack.com/team_image_34": "...",
                "https://slack.com/team_image_44": "...",
                "https://slack.com/team_image_68": "...",
                "https://slack.com/team_image_88": "...",
                "https://slack.com/team_image_102": "...",
                "https://slack.com/team_image_132": "...",
                "https://slack.com/team_image_230": "...",
                "https://slack.com/team_image_default": true
            }"#,
            ),
        );
        check(
            &p,
            "U0R7JM",
            Some("krane@slack-corp.com"),
            true,
            Some("krane"),
            Some("https://secure.gravatar.com/avatar/bc1e6e30a0a1e1d2a2e8e4e62ec0e1d4.png"),
        );
    }

    #[test]
    fn slack_ok_false_is_an_error() {
        let e = map_profile(
            "slack",
            &json!({"ok": false, "error": "invalid_auth"}),
            &no_tokens(),
            None,
        )
        .unwrap_err();
        assert_eq!(e.0, "slack: invalid_auth");
        // Odd error text is not echoed.
        let e = map_profile(
            "slack",
            &json!({"ok": false, "error": "Bearer xoxp-123 <script>"}),
            &no_tokens(),
            None,
        )
        .unwrap_err();
        assert!(!e.0.contains("xoxp"));
    }

    // https://developer.spotify.com/documentation/web-api/reference/get-current-users-profile
    // (response sample; `account_id` per the May 2026 changelog).
    #[test]
    fn spotify_maps_the_documented_profile_unverified() {
        let p = map(
            "spotify",
            parse(
                r#"{
                "account_id": "aB3dE5fG7h",
                "country": "string",
                "display_name": "string",
                "email": "string",
                "explicit_content": { "filter_enabled": false, "filter_locked": false },
                "external_urls": { "spotify": "string" },
                "followers": { "href": "string", "total": 0 },
                "href": "string",
                "id": "string",
                "images": [
                    {
                        "url": "https://i.scdn.co/image/ab67616d00001e02ff9ca10b55ce82ae553c8228",
                        "height": 300,
                        "width": 300
                    }
                ],
                "product": "string",
                "type": "string",
                "uri": "string"
            }"#,
            ),
        );
        check(
            &p,
            "aB3dE5fG7h",
            Some("string"),
            false,
            Some("string"),
            Some("https://i.scdn.co/image/ab67616d00001e02ff9ca10b55ce82ae553c8228"),
        );
        let p = map(
            "spotify",
            json!({"id": "wizzler", "display_name": null, "images": []}),
        );
        check(&p, "wizzler", None, false, None, None);
    }

    // https://dev.twitch.tv/docs/authentication/getting-tokens-oidc/#getting-claims-information-from-the-userinfo-endpoint
    #[test]
    fn twitch_maps_the_documented_userinfo() {
        let p = map(
            "twitch",
            json!({
                "aud": "hof5gwx0su6owfnys0yan9c87zr6t",
                "exp": 1_644_258_131,
                "iat": 1_644_257_231,
                "iss": "https://id.twitch.tv/oauth2",
                "sub": "713936733",
                "email": "scotwht@justin.tv",
                "email_verified": true,
                "picture": "https://static-cdn.jtvnw.net/user-default-pictures-uv/998f01ae-def8-11e9-b95c-784f43822e80-profile_image-150x150.png",
                "preferred_username": "scotwht",
                "updated_at": "2022-02-07T22:47:23Z"
            }),
        );
        check(
            &p,
            "713936733",
            Some("scotwht@justin.tv"),
            true,
            Some("scotwht"),
            Some("https://static-cdn.jtvnw.net/user-default-pictures-uv/998f01ae-def8-11e9-b95c-784f43822e80-profile_image-150x150.png"),
        );
    }

    // https://docs.x.com/x-api/users/get-my-user (example response, with
    // `user.fields=profile_image_url`, and the `confirmed_email` user field).
    #[test]
    fn twitter_maps_the_documented_me_and_confirmed_email() {
        let me = json!({
            "data": {
                "id": "2244994945",
                "name": "X Dev",
                "username": "TwitterDev",
                "profile_image_url": "https://pbs.twimg.com/profile_images/1354479643882004483/Btnfm47p_normal.jpg"
            }
        });
        let email = json!({
            "data": {
                "id": "2244994945",
                "name": "X Dev",
                "username": "TwitterDev",
                "confirmed_email": "devs@x.com"
            }
        });
        let p = map_profile("twitter", &me, &no_tokens(), Some(&email)).unwrap();
        check(
            &p,
            "2244994945",
            Some("devs@x.com"),
            true,
            Some("X Dev"),
            Some("https://pbs.twimg.com/profile_images/1354479643882004483/Btnfm47p_normal.jpg"),
        );
        // Without the email lookup there is no email (never the username).
        let p = map_profile("twitter", &me, &no_tokens(), None).unwrap();
        assert_eq!(p.email, None);
        assert!(!p.email_verified);
        let errors = json!({"errors": [{"title": "Forbidden"}]});
        let p = map_profile("twitter", &me, &no_tokens(), Some(&errors)).unwrap();
        assert!(!p.email_verified);
    }

    // https://developers.zoom.us/docs/api/users/#tag/users/GET/users/{userId} (example response)
    #[test]
    fn zoom_maps_the_documented_user() {
        let p = map(
            "zoom",
            parse(
                r#"{
                "id": "zJKyaiAyTNC-MWjiWC18KQ",
                "created_at": "2018-10-31T04:32:37Z",
                "dept": "Developers",
                "email": "jchill@example.com",
                "first_name": "Jill",
                "last_client_version": "5.9.6.4993(mac)",
                "last_login_time": "2021-05-05T20:40:30Z",
                "last_name": "Chill",
                "pmi": 3542471135,
                "role_name": "Admin",
                "timezone": "Asia/Shanghai",
                "type": 1,
                "use_pmi": false,
                "account_id": "q6gBJVO5TzexKYTb_I2rpg",
                "account_number": 10009239,
                "cms_user_id": "KDcuGIm1QgePTO8WbOqwIQ",
                "company": "Jill",
                "custom_attributes": { "key": "cbf_cywdkexrtqc73f97gd4w6g", "name": "A1", "value": "1" },
                "employee_unique_id": "HqDyI037Qjili1kNsSIrIg",
                "group_ids": ["RSMaSp8sTEGK0_oamiA2_w"],
                "im_group_ids": ["t-_-d56CSWG-7BF15LLrOw"],
                "jid": "jchill@example.com",
                "job_title": "API Developer",
                "language": "en-US",
                "location": "Paris",
                "login_type": 101,
                "manager": "thill@example.com",
                "personal_meeting_url": "example.com",
                "phone_country": "US",
                "phone_number": "+1 800000000",
                "phone_numbers": [
                    { "code": "+1", "country": "US", "label": "Mobile", "number": "800000000", "verified": true }
                ],
                "pic_url": "example.com",
                "plan_united_type": "1",
                "pronouns": "3123",
                "pronouns_option": 1,
                "role_id": "0",
                "status": "pending",
                "vanity_url": "example.com",
                "verified": 1,
                "cluster": "us04",
                "zoom_one_type": 4
            }"#,
            ),
        );
        // The documented `pic_url` placeholder is not an http(s) URL, so no image.
        check(
            &p,
            "zJKyaiAyTNC-MWjiWC18KQ",
            Some("jchill@example.com"),
            true,
            Some("Jill Chill"),
            None,
        );
        let p = map(
            "zoom",
            json!({"id": "z", "display_name": "Jill C.", "verified": 0,
                   "pic_url": "https://us04web.zoom.us/p/v2/abc"}),
        );
        check(
            &p,
            "z",
            None,
            false,
            Some("Jill C."),
            Some("https://us04web.zoom.us/p/v2/abc"),
        );
    }

    // ---- rules common to every provider ----------------------------------------------------

    #[test]
    fn a_profile_without_a_subject_is_an_error_for_every_provider() {
        for id in IDS {
            for info in [
                json!({}),
                json!({"id": "", "sub": "  ", "account_id": null, "data": {"id": ""}}),
                json!({"email": "a@example.com", "id": {"nested": 1}, "sub": 1.5}),
            ] {
                let r = map_profile(id, &info, &no_tokens(), None);
                assert!(r.is_err(), "{id}: {info}");
            }
        }
    }

    #[test]
    fn blank_emails_are_none_and_emails_come_back_as_given() {
        let p = map(
            "google",
            json!({"sub": "1", "email": "", "email_verified": true}),
        );
        assert_eq!(p.email, None);
        let p = map("google", json!({"sub": "1", "email": "   "}));
        assert_eq!(p.email, None);
        let p = map(
            "google",
            json!({"sub": "1", "email": "Mixed.Case@Example.COM"}),
        );
        assert_eq!(p.email.as_deref(), Some("Mixed.Case@Example.COM"));
    }

    #[test]
    fn only_http_images_are_kept() {
        for (url, kept) in [
            ("https://example.com/a.png", true),
            ("HTTPS://example.com/a.png", true),
            ("http://example.com/a.png", true),
            ("javascript:alert(1)", false),
            ("data:image/png;base64,AAAA", false),
            ("//example.com/a.png", false),
            ("", false),
        ] {
            let p = map("google", json!({"sub": "1", "picture": url}));
            assert_eq!(p.image.is_some(), kept, "{url}");
        }
    }

    // ---- fetching, against a local stand-in for the providers -----------------------------

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        /// `/<host><path>?<query>` of the real URL.
        target: String,
        headers: HashMap<String, String>,
        body: Vec<u8>,
    }

    /// Serves `routes` (`/<host><path>` -> status, body) on loopback; records every request.
    async fn stand_in(routes: Vec<(&'static str, u16, String)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i);
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap().split(' ');
                let method = first.next().unwrap().to_owned();
                let target = first.next().unwrap().to_owned();
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let len: usize = headers
                    .get("content-length")
                    .map(|v| v.parse().unwrap())
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    let n = sock.read(&mut chunk).await.unwrap();
                    body.extend_from_slice(&chunk[..n]);
                }
                let (status, answer) = routes
                    .iter()
                    .find(|(t, _, _)| *t == target)
                    .map(|(_, s, b)| (*s, b.clone()))
                    .unwrap_or((404, r#"{"message":"Not Found"}"#.to_owned()));
                log.lock().unwrap().push(Seen {
                    method,
                    target,
                    headers,
                    body,
                });
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (base, seen)
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap()
    }

    fn tokens(access: &str) -> Tokens {
        Tokens {
            access_token: access.to_owned(),
            ..Tokens::default()
        }
    }

    async fn fetch_local(
        id: &str,
        routes: Vec<(&'static str, u16, String)>,
        tokens: &Tokens,
    ) -> (Result<Profile, ProfileError>, Vec<Seen>) {
        let (base, seen) = stand_in(routes).await;
        let route = move |url: &str| {
            let rest = url.strip_prefix("https://").unwrap();
            format!("{base}/{rest}")
        };
        let spec = spec(id).unwrap();
        let r = fetch_profile_via(spec, &client(), tokens, &route).await;
        let seen = seen.lock().unwrap().clone();
        (r, seen)
    }

    const TOKEN: &str = "gho_s3cr3t-access-token";

    #[tokio::test]
    async fn github_fetch_sends_the_headers_github_needs_and_reads_the_emails() {
        let (r, seen) = fetch_local(
            "github",
            vec![
                (
                    "/api.github.com/user",
                    200,
                    github_user_example().to_string(),
                ),
                (
                    "/api.github.com/user/emails",
                    200,
                    github_emails_example().to_string(),
                ),
            ],
            &tokens(TOKEN),
        )
        .await;
        let p = r.unwrap();
        check(
            &p,
            "1",
            Some("octocat@github.com"),
            true,
            Some("monalisa octocat"),
            Some("https://github.com/images/error/octocat_happy.gif"),
        );
        let targets: Vec<_> = seen.iter().map(|s| s.target.as_str()).collect();
        assert_eq!(
            targets,
            ["/api.github.com/user", "/api.github.com/user/emails"]
        );
        for s in &seen {
            assert_eq!(s.method, "GET");
            assert_eq!(s.headers["authorization"], format!("Bearer {TOKEN}"));
            assert_eq!(s.headers["accept"], "application/vnd.github+json");
            assert!(s.headers["user-agent"].starts_with("kavachos/"));
        }
    }

    #[tokio::test]
    async fn github_emails_failure_leaves_the_public_email_unverified() {
        let (r, _) = fetch_local(
            "github",
            vec![
                (
                    "/api.github.com/user",
                    200,
                    github_user_example().to_string(),
                ),
                ("/api.github.com/user/emails", 403, "{}".to_owned()),
            ],
            &tokens(TOKEN),
        )
        .await;
        let p = r.unwrap();
        assert_eq!(p.email.as_deref(), Some("octocat@github.com"));
        assert!(!p.email_verified);
    }

    #[tokio::test]
    async fn dropbox_fetch_posts_with_no_body_and_no_content_type() {
        let (r, seen) = fetch_local(
            "dropbox",
            vec![(
                "/api.dropboxapi.com/2/users/get_current_account",
                200,
                json!({"account_id": "dbid:1", "email": "f@dropbox.com", "email_verified": true,
                       "name": {"display_name": "Franz"}})
                .to_string(),
            )],
            &tokens(TOKEN),
        )
        .await;
        check(
            &r.unwrap(),
            "dbid:1",
            Some("f@dropbox.com"),
            true,
            Some("Franz"),
            None,
        );
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "POST");
        assert!(!seen[0].headers.contains_key("content-type"));
        assert!(seen[0].body.is_empty());
        assert_eq!(seen[0].headers["authorization"], format!("Bearer {TOKEN}"));
    }

    #[tokio::test]
    async fn a_non_2xx_answer_is_an_error_that_never_names_the_token() {
        for status in [401u16, 403, 500, 302] {
            let (r, _) = fetch_local(
                "google",
                vec![(
                    "/openidconnect.googleapis.com/v1/userinfo",
                    status,
                    format!(r#"{{"error":"invalid_token {TOKEN}"}}"#),
                )],
                &tokens(TOKEN),
            )
            .await;
            let e = r.unwrap_err();
            assert!(e.0.contains(&status.to_string()), "{}", e.0);
            assert!(!e.0.contains(TOKEN));
        }
    }

    #[tokio::test]
    async fn answers_without_a_subject_or_not_json_are_errors() {
        let (r, _) = fetch_local(
            "spotify",
            vec![(
                "/api.spotify.com/v1/me",
                200,
                json!({"display_name": "x"}).to_string(),
            )],
            &tokens(TOKEN),
        )
        .await;
        assert!(r.is_err());
        let (r, _) = fetch_local(
            "spotify",
            vec![("/api.spotify.com/v1/me", 200, "<html>".to_owned())],
            &tokens(TOKEN),
        )
        .await;
        assert!(r.unwrap_err().0.contains("JSON"));
    }

    #[tokio::test]
    async fn slack_fetch_treats_ok_false_as_an_error() {
        let (r, seen) = fetch_local(
            "slack",
            vec![(
                "/slack.com/api/openid.connect.userInfo",
                200,
                json!({"ok": false, "error": "invalid_auth"}).to_string(),
            )],
            &tokens(TOKEN),
        )
        .await;
        assert_eq!(r.unwrap_err().0, "slack: invalid_auth");
        assert_eq!(seen[0].headers["authorization"], format!("Bearer {TOKEN}"));
    }

    #[tokio::test]
    async fn reddit_and_twitch_fetch_send_a_user_agent() {
        let (r, seen) = fetch_local(
            "reddit",
            vec![(
                "/oauth.reddit.com/api/v1/me",
                200,
                json!({"id": "1w72", "name": "spez"}).to_string(),
            )],
            &tokens(TOKEN),
        )
        .await;
        assert_eq!(r.unwrap().subject, "1w72");
        assert!(seen[0].headers["user-agent"].contains("kavachos"));
        let (r, _) = fetch_local(
            "twitch",
            vec![(
                "/id.twitch.tv/oauth2/userinfo",
                200,
                json!({"sub": "713936733"}).to_string(),
            )],
            &tokens(TOKEN),
        )
        .await;
        assert_eq!(r.unwrap().subject, "713936733");
    }

    #[tokio::test]
    async fn twitter_fetch_reads_the_confirmed_email_when_x_gives_it() {
        let me = json!({"data": {"id": "2244994945", "name": "X Dev", "username": "TwitterDev"}});
        let (r, seen) = fetch_local(
            "twitter",
            vec![
                (
                    "/api.x.com/2/users/me?user.fields=profile_image_url",
                    200,
                    me.to_string(),
                ),
                (
                    "/api.x.com/2/users/me?user.fields=confirmed_email",
                    200,
                    json!({"data": {"id": "2244994945", "confirmed_email": "devs@x.com"}})
                        .to_string(),
                ),
            ],
            &tokens(TOKEN),
        )
        .await;
        let p = r.unwrap();
        assert_eq!(p.email.as_deref(), Some("devs@x.com"));
        assert!(p.email_verified);
        assert_eq!(seen.len(), 2);

        let (r, _) = fetch_local(
            "twitter",
            vec![(
                "/api.x.com/2/users/me?user.fields=profile_image_url",
                200,
                me.to_string(),
            )],
            &tokens(TOKEN),
        )
        .await;
        let p = r.unwrap();
        assert_eq!(p.email, None);
        assert!(!p.email_verified);
    }

    #[tokio::test]
    async fn notion_uses_the_token_owner_or_else_users_me_with_a_notion_version() {
        let mut t = tokens(TOKEN);
        t.raw = json!({"owner": {"type": "user", "user": {"object": "user", "id": "u1",
                      "type": "person", "name": "Ada", "person": {"email": "ada@example.com"}}}});
        let (r, seen) = fetch_local("notion", vec![], &t).await;
        assert_eq!(r.unwrap().subject, "u1");
        assert!(seen.is_empty());

        let (r, seen) = fetch_local(
            "notion",
            vec![(
                "/api.notion.com/v1/users/me",
                200,
                json!({"object": "user", "id": "bot", "type": "bot", "bot": {"owner": {"type": "user",
                       "user": {"object": "user", "id": "u2", "type": "person"}}}})
                .to_string(),
            )],
            &tokens(TOKEN),
        )
        .await;
        assert_eq!(r.unwrap().subject, "u2");
        assert_eq!(seen[0].headers["notion-version"], NOTION_VERSION);
    }

    #[tokio::test]
    async fn apple_needs_no_http_but_a_verified_id_token() {
        let mut t = tokens(TOKEN);
        let (r, _) = fetch_local("apple", vec![], &t).await;
        assert!(r.is_err());
        t.id_claims = Some(
            json!({"sub": "001.a", "email": "a@privaterelay.appleid.com", "email_verified": "true"}),
        );
        let (r, seen) = fetch_local("apple", vec![], &t).await;
        let p = r.unwrap();
        assert_eq!(p.subject, "001.a");
        assert!(p.email_verified);
        assert!(seen.is_empty());
    }

    #[tokio::test]
    async fn every_provider_fetches_and_maps_through_its_endpoint() {
        for id in IDS {
            if id == "apple" {
                continue;
            }
            let info = match id {
                "atlassian" => json!({"account_id": "s-atlassian"}),
                "dropbox" => json!({"account_id": "s-dropbox"}),
                "notion" => json!({"object": "user", "id": "s-notion", "type": "person"}),
                "twitter" => json!({"data": {"id": "s-twitter"}}),
                "google" | "linkedin" | "microsoft" | "slack" | "twitch" => {
                    json!({"sub": format!("s-{id}")})
                }
                _ => json!({"id": format!("s-{id}")}),
            }
            .to_string();
            let url = match id {
                "github" => GITHUB_USER,
                "twitter" => TWITTER_ME,
                "dropbox" => DROPBOX_ACCOUNT,
                other => profile_url(other).unwrap(),
            };
            let target: &'static str =
                Box::leak(format!("/{}", url.strip_prefix("https://").unwrap()).into_boxed_str());
            let (r, seen) = fetch_local(id, vec![(target, 200, info)], &tokens(TOKEN)).await;
            assert_eq!(r.unwrap().subject, format!("s-{id}"), "{id}");
            assert_eq!(
                seen[0].headers["authorization"],
                format!("Bearer {TOKEN}"),
                "{id}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_spec_and_empty_or_unsendable_tokens_are_errors() {
        let odd = Spec {
            id: "myspace",
            name: "Myspace",
            authorization_endpoint: "https://myspace.com/auth",
            token_endpoint: "https://myspace.com/token",
            default_scopes: &[],
            scope_separator: " ",
            pkce: false,
            client_auth: ClientAuth::Post,
            extra_authorize_params: &[],
            nonce: false,
            id_token: None,
        };
        assert!(fetch_profile(&odd, &client(), &tokens(TOKEN))
            .await
            .is_err());
        let (r, seen) = fetch_local("google", vec![], &tokens("")).await;
        assert!(r.is_err());
        assert!(seen.is_empty());
        let (r, _) = fetch_local("google", vec![], &tokens("abc\r\nx-evil: 1")).await;
        let e = r.unwrap_err();
        assert!(!e.0.contains("abc"));
    }

    #[test]
    fn fetch_profile_is_send() {
        fn send<T: Send>(_: &T) {}
        let http = client();
        let t = Tokens::default();
        let s = spec("github").unwrap();
        let fut = fetch_profile(s, &http, &t);
        send(&fut);
    }
}
