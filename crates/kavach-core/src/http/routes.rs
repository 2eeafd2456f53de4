//! The core's HTTP routes (accounts, agents, authorization, audit). Plugins add theirs through
//! `Plugin::routes`; 404, 405 and preflight answers are derived from these tables.

use serde_json::{json, Value};

use super::*;
use crate::accounts::human::{Login, SignIn, SignInOutcome, SignUp};
use crate::agents::audit::{AuditExport, ExportFormat, MAX_EXPORT};
use crate::agents::permission::AuthzRequest;
use crate::agents::{AgentFilter, CreateAgent, UpdateAgent};
use crate::crypto::token::AGENT_TOKEN_PREFIX;
use crate::error::KavachError;
use crate::plugin::{Route, SignInContext};
use crate::route;
use crate::store::ratelimit;

/// The answer of `GET /auth/session` for a request that carries a session token: `{ user, session }`,
/// or 401 (clearing a cookie that names no live session). Shared by the route and
/// [`Kavach::handle_inline`].
pub(super) fn session_answer(
    k: &Kavach,
    req: &HttpRequest,
    found: Option<(crate::accounts::human::Session, User)>,
) -> ApiResult {
    match found {
        Some((session, user)) => ok_value(json!({ "user": user, "session": session })),
        None => {
            let mut e = ApiError::unauthorized();
            if req.cookie(&k.settings().cookie_name).is_some() {
                e.headers.push(("set-cookie".into(), k.clear_cookie()));
            }
            Err(e)
        }
    }
}

/// `GET /auth/verify-email?token=` (the link in the email; with `callbackURL`, a redirect there)
/// and `POST` with `{ token }`.
async fn verify_email(k: &Kavach, req: &HttpRequest, get: bool) -> ApiResult {
    let q = req.query_map()?;
    let query_token = q.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone());
    let token = if get {
        query_token
    } else {
        parse_body::<VerifyBody>(req)?.token.or(query_token)
    }
    .ok_or_else(|| ApiError::new(400, "VALIDATION_FAILED", "token is required"))?;
    let user = k.verify_email(&token).await?;
    let callback = q.iter().find(|(k, _)| k == "callbackURL").map(|(_, v)| v);
    match (get, callback) {
        (true, Some(cb)) => {
            let cb = crate::accounts::human::same_origin_path(cb)?;
            Ok(HttpResponse {
                status: 302,
                headers: vec![("location".into(), cb.to_owned())],
                body: Vec::new(),
            })
        }
        _ => ok_value(json!({ "success": true, "user": user })),
    }
}

impl Kavach {
    /// The answer of a password sign-in route, by any login (`/auth/sign-in` by email, the
    /// username and phoneNumber plugins' own): the per-IP limit, failed sign-ins counted per login,
    /// a plugin's interruption (a second factor is due) as its body and cookie, else
    /// [`Kavach::signed_in_response`].
    pub async fn password_sign_in_response(
        &self,
        req: &HttpRequest,
        login: Login,
        password: String,
    ) -> ApiResult {
        self.limit_ip(req).await?;
        let account_key = login.limit_key();
        if let Some((per_account, _)) = self.settings().rate_limits {
            if let Some(retry) =
                ratelimit::blocked(self.limiter(), &account_key, per_account, self.now_ms()).await?
            {
                return Err(too_many(retry));
            }
        }
        let ctx = SignInContext {
            cookies: req
                .cookies()
                .map(|(n, v)| (n.to_owned(), v.trim_matches('"').to_owned()))
                .collect(),
        };
        match self
            .password_sign_in(login, password, req.client(), &ctx)
            .await
        {
            Ok(SignInOutcome::Complete(s)) => self.signed_in_response(&s),
            Ok(SignInOutcome::Interrupted(held)) => {
                let mut r = ok(&held.body)?;
                if let Some(cookie) = held.set_cookie {
                    r.headers.push(("set-cookie".into(), cookie));
                }
                Ok(r)
            }
            Err(KavachError::InvalidCredentials) => {
                if let Some((per_account, _)) = self.settings().rate_limits {
                    ratelimit::hit(self.limiter(), &account_key, per_account, self.now_ms())
                        .await?;
                }
                Err(KavachError::InvalidCredentials.into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

pub(super) const CORE: &[Route] = &[
    route!("POST", "/auth/sign-up", |k, req, p| {
        let input: SignUp = parse_body(req)?;
        k.limit_ip(req).await?;
        let signed = k.sign_up(input, req.client()).await?;
        let mut r = ok_value(json!({ "user": signed.user, "session": signed.session }))?;
        if let Some(token) = &signed.token {
            r.headers
                .push(("set-cookie".into(), k.session_cookie(token)));
        }
        Ok(r)
    }),
    route!("POST", "/auth/sign-in", |k, req, p| {
        let input: SignIn = parse_body(req)?;
        k.password_sign_in_response(req, Login::Email(input.email), input.password)
            .await
    }),
    route!("POST", "/auth/sign-out", |k, req, p| {
        // `{ "all": true }` ends every session of the user, on every device.
        let b: SignOutBody = parse_body(req)?;
        if let Some(token) = session_token(req, &k.settings().cookie_name) {
            if b.all {
                if let Some((_, user)) = k.get_session(token).await? {
                    k.revoke_user_sessions(&user.id).await?;
                }
            }
            k.sign_out(token).await?;
        }
        let mut r = ok_value(json!({ "success": true }))?;
        r.headers.push(("set-cookie".into(), k.clear_cookie()));
        Ok(r)
    }),
    route!("GET", "/auth/session", |k, req, p| {
        let token = session_token(req, &k.settings().cookie_name);
        match token {
            Some(t) => session_answer(k, req, k.get_session(t).await?),
            None => match k.plugin_session(req).await? {
                Some((session, user)) => ok_value(json!({ "user": user, "session": session })),
                None => Err(ApiError::unauthorized()),
            },
        }
    }),
    route!("POST", "/auth/update-user", |k, req, p| {
        let user = k.session_user(req).await?;
        let patch: crate::accounts::human::UpdateUser = parse_body(req)?;
        let user = k.update_user(user, patch).await?;
        ok_value(json!({ "status": true, "user": user }))
    }),
    route!("POST", "/auth/forgot-password", |k, req, p| {
        let b: ForgotBody = parse_body(req)?;
        k.limit_ip(req).await?;
        k.forgot_password(
            &b.email,
            b.redirect_to.as_deref(),
            req.url_origin.as_deref(),
        )
        .await?;
        // The same answer whether or not the email has an account.
        ok_value(json!({ "success": true }))
    }),
    route!("POST", "/auth/reset-password", |k, req, p| {
        let b: ResetBody = parse_body(req)?;
        k.limit_ip(req).await?;
        k.reset_password(&b.token, b.new_password).await?;
        ok_value(json!({ "success": true }))
    }),
    route!("POST", "/auth/change-password", |k, req, p| {
        let (session, user) = k.session_and_user(req).await?;
        let b: ChangeBody = parse_body(req)?;
        k.limit_ip(req).await?;
        let revoke = b.revoke_other_sessions.unwrap_or(true);
        k.change_password(
            &user,
            &session.id,
            b.current_password,
            b.new_password,
            revoke,
        )
        .await?;
        ok_value(json!({ "success": true }))
    }),
    route!("POST", "/auth/send-verification-email", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: ResendBody = parse_body(req)?;
        k.limit_ip(req).await?;
        k.send_verification_email(&user, req.url_origin.as_deref(), b.callback_url.as_deref())
            .await?;
        ok_value(json!({ "success": true }))
    }),
    route!("GET", "/auth/verify-email", |k, req, p| {
        verify_email(k, req, true).await
    }),
    route!("POST", "/auth/verify-email", |k, req, p| {
        verify_email(k, req, false).await
    }),
    route!("GET", "/agents", |k, req, p| {
        let user = k.session_user(req).await?;
        let mut f = AgentFilter {
            owner_id: Some(user.id),
            ..Default::default()
        };
        for (k, v) in req.query_map()? {
            match k.as_str() {
                "status" => f.status = Some(v),
                "type" => f.kind = Some(v),
                "limit" => f.limit = v.parse().ok(),
                "offset" => f.offset = v.parse().ok(),
                _ => {}
            }
        }
        ok(&k.list_agents(f).await?)
    }),
    route!("POST", "/agents", |k, req, p| {
        let user = k.session_user(req).await?;
        let mut body: Value = parse_body(req)?;
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ApiError::new(400, "VALIDATION_FAILED", "the body must be an object"))?;
        match obj.get("ownerId") {
            None | Some(Value::Null) => {
                obj.insert("ownerId".into(), Value::String(user.id.clone()));
            }
            Some(Value::String(o)) if *o == user.id => {}
            Some(_) => {
                return Err(ApiError::new(
                    403,
                    "FORBIDDEN",
                    "agents are created for the signed-in user only",
                ))
            }
        }
        let input: CreateAgent = serde_json::from_value(body).map_err(|e| {
            ApiError::new(
                400,
                "VALIDATION_FAILED",
                format!("invalid request body: {e}"),
            )
        })?;
        ok(&k.create_agent(input).await?)
    }),
    route!("GET", "/agents/:id", |k, req, p| {
        let id = p[0];
        let user = k.session_user(req).await?;
        ok(&k.owned_agent(id, &user.id).await?)
    }),
    route!("PATCH", "/agents/:id", |k, req, p| {
        let id = p[0];
        let user = k.session_user(req).await?;
        k.owned_agent(id, &user.id).await?;
        let patch: UpdateAgent = parse_body(req)?;
        ok(&k.update_agent(id, patch).await?)
    }),
    route!("DELETE", "/agents/:id", |k, req, p| {
        let id = p[0];
        let user = k.session_user(req).await?;
        k.owned_agent(id, &user.id).await?;
        k.revoke_agent(id).await?;
        ok_value(json!({ "success": true }))
    }),
    route!("POST", "/agents/:id/rotate", |k, req, p| {
        let id = p[0];
        let user = k.session_user(req).await?;
        k.owned_agent(id, &user.id).await?;
        ok(&k.rotate_agent(id).await?)
    }),
    route!("POST", "/authorize", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: AuthorizeBody = parse_body(req)?;
        k.owned_agent(&b.agent_id, &user.id).await?;
        let r = AuthzRequest {
            action: b.action,
            resource: b.resource,
            arguments: b.arguments,
            ip: b.ip,
        };
        ok(&k.authorize(&b.agent_id, &r).await?)
    }),
    route!("POST", "/authorize/token", |k, req, p| {
        let b: AuthorizeTokenBody = parse_body(req)?;
        let token = req
            .bearer()
            .filter(|t| t.starts_with(AGENT_TOKEN_PREFIX))
            .map(str::to_owned)
            .or(b.token)
            .ok_or_else(|| {
                ApiError::new(
                    401,
                    "INVALID_TOKEN",
                    "send the agent token as Authorization: Bearer kv_...",
                )
            })?;
        // The caller here is the agent itself: its address is the one to check.
        let ip = b.ip.or_else(|| req.client_ip.clone());
        let r = AuthzRequest {
            action: b.action,
            resource: b.resource,
            arguments: b.arguments,
            ip,
        };
        ok(&k.authorize_by_token(&token, &r).await?)
    }),
    route!("GET", "/approvals", |k, req, p| {
        let user = k.session_user(req).await?;
        let mut f = crate::agents::approvals::ApprovalFilter {
            owner_id: Some(user.id),
            ..Default::default()
        };
        for (k, v) in req.query_map()? {
            match k.as_str() {
                "status" => f.status = Some(v),
                "agentId" => f.agent_id = Some(v),
                "limit" => f.limit = v.parse().ok(),
                _ => {}
            }
        }
        ok(&k.list_approvals(f).await?)
    }),
    route!("POST", "/approvals/:id/approve", |k, req, p| {
        let user = k.session_user(req).await?;
        ok(&k
            .decide_approval(p[0], true, Some(&user.id), Some(&user.id))
            .await?)
    }),
    route!("POST", "/approvals/:id/deny", |k, req, p| {
        let user = k.session_user(req).await?;
        ok(&k
            .decide_approval(p[0], false, Some(&user.id), Some(&user.id))
            .await?)
    }),
    route!("GET", "/agents/:id/trust", |k, req, p| {
        let user = k.session_user(req).await?;
        k.owned_agent(p[0], &user.id).await?;
        ok(&k.trust_score(p[0]).await?)
    }),
    route!("GET", "/audit", |k, req, p| {
        let user = k.session_user(req).await?;
        let f = audit_filter(&req.query_map()?, &user.id)?;
        ok(&k.audit_query(&f).await?)
    }),
    route!("GET", "/audit/export", |k, req, p| {
        // Through `Kavach::handle`, the capped string form; the Node handler streams it instead
        // (`Kavach::handle_streaming`).
        let (mut r, export) = export_response(k, req, Some(u64::from(MAX_EXPORT))).await?;
        r.body = export.collect().await?.into_bytes();
        Ok(r)
    }),
];

/// `GET /audit/export`: checks the session and the query, and answers the headers with the export
/// still to read (`cap` rows at most, more is `EXPORT_TOO_LARGE`; `None` reads them all).
pub(super) async fn export_response(
    k: &Kavach,
    req: &HttpRequest,
    cap: Option<u64>,
) -> Result<(HttpResponse, AuditExport), ApiError> {
    let user = k.session_user(req).await?;
    let q = req.query_map()?;
    let format = match q
        .iter()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.as_str())
    {
        None | Some("json") => ExportFormat::Json,
        Some("csv") => ExportFormat::Csv,
        Some(_) => {
            return Err(ApiError::new(
                400,
                "VALIDATION_FAILED",
                "format must be json or csv",
            ))
        }
    };
    let f = audit_filter(&q, &user.id)?;
    let export = k.audit_export_stream(f, format)?.with_cap(cap);
    let (ct, ext) = match format {
        ExportFormat::Json => ("application/json; charset=utf-8", "json"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    Ok((
        HttpResponse {
            status: 200,
            headers: vec![
                ("content-type".into(), ct.into()),
                ("cache-control".into(), "no-store".into()),
                (
                    "content-disposition".into(),
                    format!("attachment; filename=\"kavach-audit.{ext}\""),
                ),
            ],
            body: Vec::new(),
        },
        export,
    ))
}
