//! `createKavach({ user: { additionalFields } })`: the app's own fields on the user (better-auth's
//! `user.additionalFields`), kept as one JSON object in `kavach_user.additional_fields` and
//! returned flattened beside the core's fields.
//!
//! A definition is `{ type, required?, defaultValue?, input?, returned? }` with `type` one of
//! `string`, `number`, `boolean`, `date`, `string[]`, `number[]`. Definitions are checked at boot
//! (a bad one is `CONFIG_INVALID`); values are checked on sign-up and `update-user` (a wrong type,
//! a missing required field, or a field the client may not set (`input: false`) is
//! `VALIDATION_FAILED`). A date is stored and answered as an ISO 8601 string in UTC (Unix
//! milliseconds are accepted too); the JS facade hands it out as a `Date`.

use serde_json::{Map, Value};

use crate::accounts::human::User;
use crate::error::{KavachError, Result};

/// The type of an additional field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Boolean,
    Date,
    StringArray,
    NumberArray,
}

impl FieldType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "string[]" => Self::StringArray,
            "number[]" => Self::NumberArray,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Boolean => "a boolean",
            Self::Date => "a date (an ISO 8601 string or Unix milliseconds)",
            Self::StringArray => "an array of strings",
            Self::NumberArray => "an array of numbers",
        }
    }
}

/// One checked `additionalFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub name: String,
    pub kind: FieldType,
    pub required: bool,
    /// Already in its stored form (a date as an ISO string).
    pub default: Option<Value>,
    /// The client may send it (default true); otherwise only `defaultValue` sets it.
    pub input: bool,
    /// Returned on the user (default true).
    pub returned: bool,
}

/// The user's own fields; a name here may not be an additional field.
const CORE_FIELDS: &[&str] = &[
    "id",
    "email",
    "name",
    "emailVerified",
    "image",
    "createdAt",
    "updatedAt",
    "role",
    "banned",
    "banReason",
    "banExpires",
    "username",
    "displayUsername",
    "phoneNumber",
    "phoneNumberVerified",
    "isAnonymous",
    "password",
    "additionalFields",
];

/// Longest string value, in characters; most items in an array value.
const MAX_STRING: usize = 10_000;
const MAX_ITEMS: usize = 1_000;
/// Largest stored object, in bytes of JSON.
const MAX_STORED: usize = 64 * 1024;

/// `user` of the configuration (absent or `null`: no fields). Keys of `user` other than
/// `additionalFields` belong to other parts and are left alone.
pub fn parse(user: &Value) -> Result<Vec<FieldDef>> {
    let bad = |m: String| KavachError::ConfigInvalid(m);
    let user = match user {
        Value::Null => return Ok(Vec::new()),
        Value::Object(m) => m,
        _ => return Err(bad("user must be an object".into())),
    };
    let fields = match user.get("additionalFields") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(bad(
                "user.additionalFields must be an object of field definitions".into(),
            ))
        }
    };
    let mut defs = Vec::with_capacity(fields.len());
    for (name, def) in fields {
        let at = format!("user.additionalFields.{name}");
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(bad(format!(
                "{at}: a field name is letters, digits and _ (at most 64, not starting with a digit)"
            )));
        }
        if CORE_FIELDS.contains(&name.as_str()) {
            return Err(bad(format!(
                "{at}: `{name}` is a field of the user already"
            )));
        }
        let Value::Object(def) = def else {
            return Err(bad(format!(
                "{at} must be an object like {{ type: 'string' }}"
            )));
        };
        for key in def.keys() {
            if !matches!(
                key.as_str(),
                "type" | "required" | "defaultValue" | "input" | "returned"
            ) {
                return Err(bad(format!(
                    "{at}.{key} is not supported (type, required, defaultValue, input, returned)"
                )));
            }
        }
        let kind = def
            .get("type")
            .and_then(Value::as_str)
            .and_then(FieldType::parse)
            .ok_or_else(|| {
                bad(format!(
                    "{at}.type must be 'string', 'number', 'boolean', 'date', 'string[]' or 'number[]'"
                ))
            })?;
        let flag = |key: &str, default: bool| match def.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(bad(format!("{at}.{key} must be a boolean"))),
        };
        let required = flag("required", false)?;
        let input = flag("input", true)?;
        let returned = flag("returned", true)?;
        let default = match def.get("defaultValue") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                check(kind, v)
                    .map_err(|_| bad(format!("{at}.defaultValue must be {}", kind.name())))?,
            ),
        };
        if required && !input && default.is_none() {
            return Err(bad(format!(
                "{at}: a required field the client may not set (input: false) needs a defaultValue"
            )));
        }
        defs.push(FieldDef {
            name: name.clone(),
            kind,
            required,
            default,
            input,
            returned,
        });
    }
    Ok(defs)
}

/// A date as stored and answered: ISO 8601 in UTC with milliseconds (as the HTTP API's times).
fn iso(ms: i64) -> Option<Value> {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
}

fn clean_string(s: &str) -> bool {
    s.chars().count() <= MAX_STRING
        && !s
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// `v` as stored for a field of `kind`, or `Err` when it is not one.
fn check(kind: FieldType, v: &Value) -> std::result::Result<Value, ()> {
    match (kind, v) {
        (FieldType::String, Value::String(s)) if clean_string(s) => Ok(v.clone()),
        (FieldType::Number, Value::Number(_)) => Ok(v.clone()),
        (FieldType::Boolean, Value::Bool(_)) => Ok(v.clone()),
        (FieldType::Date, Value::Number(n)) => {
            let ms = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 8.64e15)
                    .map(|f| f.trunc() as i64)
            });
            ms.and_then(iso).ok_or(())
        }
        (FieldType::Date, Value::String(s)) if s.len() <= 64 => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return iso(t.timestamp_millis()).ok_or(());
            }
            let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| ())?;
            iso(d
                .and_hms_opt(0, 0, 0)
                .ok_or(())?
                .and_utc()
                .timestamp_millis())
            .ok_or(())
        }
        (FieldType::StringArray, Value::Array(a))
            if a.len() <= MAX_ITEMS
                && a.iter()
                    .all(|x| matches!(x, Value::String(s) if clean_string(s))) =>
        {
            Ok(v.clone())
        }
        (FieldType::NumberArray, Value::Array(a))
            if a.len() <= MAX_ITEMS && a.iter().all(Value::is_number) =>
        {
            Ok(v.clone())
        }
        _ => Err(()),
    }
}

/// Takes the defined fields out of a sign-up (`for_update` false) or `update-user` body and sets
/// them on `user`: a field sent with the wrong type, a field with `input: false`, or (on sign-up)
/// a required field that is missing and has no default is `VALIDATION_FAILED`. On sign-up, the
/// defaults fill what was not sent. `null` clears a field that is not required (on update).
pub fn take(
    defs: &[FieldDef],
    fields: &mut Map<String, Value>,
    user: &mut User,
    for_update: bool,
) -> Result<()> {
    if defs.is_empty() {
        return Ok(());
    }
    let mut additional = user.additional.take().unwrap_or_default();
    for d in defs {
        let Some(v) = fields.remove(&d.name) else {
            continue;
        };
        if !d.input {
            user.additional = Some(additional);
            return Err(KavachError::validation(format!(
                "`{}` cannot be set by the client",
                d.name
            )));
        }
        if v.is_null() {
            if d.required {
                user.additional = Some(additional);
                return Err(KavachError::validation(format!("`{}` is required", d.name)));
            }
            additional.remove(&d.name);
            continue;
        }
        match check(d.kind, &v) {
            Ok(stored) => {
                additional.insert(d.name.clone(), stored);
            }
            Err(()) => {
                user.additional = Some(additional);
                return Err(KavachError::validation(format!(
                    "`{}` must be {}",
                    d.name,
                    d.kind.name()
                )));
            }
        }
    }
    if !for_update {
        fill_defaults(defs, &mut additional);
        if let Some(missing) = defs
            .iter()
            .find(|d| d.required && !additional.contains_key(&d.name))
        {
            user.additional = Some(additional);
            return Err(KavachError::validation(format!(
                "`{}` is required",
                missing.name
            )));
        }
    }
    let size = serde_json::to_string(&additional).map_or(usize::MAX, |s| s.len());
    user.additional = (!additional.is_empty()).then_some(additional);
    if size > MAX_STORED {
        return Err(KavachError::validation(
            "the additional fields are too large (at most 64 KiB of JSON)",
        ));
    }
    Ok(())
}

fn fill_defaults(defs: &[FieldDef], additional: &mut Map<String, Value>) {
    for d in defs {
        if let Some(v) = &d.default {
            if !additional.contains_key(&d.name) {
                additional.insert(d.name.clone(), v.clone());
            }
        }
    }
}

/// A user created by another method than the sign-up form (a guest, a link, a code): the defaults
/// only (nothing was sent).
pub fn apply_defaults(defs: &[FieldDef], user: &mut User) {
    if defs.iter().all(|d| d.default.is_none()) {
        return;
    }
    let mut additional = user.additional.take().unwrap_or_default();
    fill_defaults(defs, &mut additional);
    user.additional = (!additional.is_empty()).then_some(additional);
}

/// Removes the fields defined `returned: false` from a user about to be answered.
pub fn hide(defs: &[FieldDef], user: &mut User) {
    let Some(a) = user.additional.as_mut() else {
        return;
    };
    for d in defs.iter().filter(|d| !d.returned) {
        a.remove(&d.name);
    }
    if a.is_empty() {
        user.additional = None;
    }
}

/// Whether some field is defined `returned: false` (answers must then be filtered).
pub fn any_hidden(defs: &[FieldDef]) -> bool {
    defs.iter().any(|d| !d.returned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs(v: Value) -> Result<Vec<FieldDef>> {
        parse(&json!({ "additionalFields": v }))
    }

    #[test]
    fn definitions_are_checked() {
        assert!(defs(json!({ "plan": { "type": "string" } })).is_ok());
        for bad in [
            json!({ "plan": { "type": "text" } }),
            json!({ "plan": {} }),
            json!({ "plan": "string" }),
            json!({ "email": { "type": "string" } }),
            json!({ "9x": { "type": "string" } }),
            json!({ "plan": { "type": "number", "defaultValue": "x" } }),
            json!({ "plan": { "type": "string", "unique": true } }),
            json!({ "plan": { "type": "string", "required": true, "input": false } }),
            json!({ "plan": { "type": "string", "input": "no" } }),
        ] {
            assert!(
                matches!(defs(bad.clone()), Err(KavachError::ConfigInvalid(_))),
                "{bad}"
            );
        }
        assert!(parse(&Value::Null).unwrap().is_empty());
        assert!(parse(&json!(3)).is_err());
    }

    #[test]
    fn values_are_checked_and_defaults_filled() {
        let d = defs(json!({
            "plan": { "type": "string", "required": true },
            "seats": { "type": "number", "defaultValue": 1 },
            "trialEnds": { "type": "date" },
            "tags": { "type": "string[]" },
            "credits": { "type": "number", "input": false, "defaultValue": 5 },
        }))
        .unwrap();
        let mut u = User::new("a@b.c".into(), 0);
        let mut f: Map<String, Value> =
            json!({ "plan": "pro", "trialEnds": "2026-01-01T00:00:00Z", "tags": ["a"] })
                .as_object()
                .unwrap()
                .clone();
        take(&d, &mut f, &mut u, false).unwrap();
        assert!(f.is_empty());
        let a = u.additional.clone().unwrap();
        assert_eq!(a["plan"], "pro");
        assert_eq!(a["seats"], 1);
        assert_eq!(a["credits"], 5);
        assert_eq!(a["trialEnds"], "2026-01-01T00:00:00.000Z");
        for bad in [
            json!({ "plan": 3 }),
            json!({ "plan": "x", "credits": 9 }),
            json!({ "plan": "x", "tags": [1] }),
            json!({ "plan": "x\u{0}" }),
            json!({}),
        ] {
            let mut u = User::new("a@b.c".into(), 0);
            let mut f = bad.as_object().unwrap().clone();
            assert!(take(&d, &mut f, &mut u, false).is_err(), "{bad}");
        }
        // An update leaves what is not sent, and null clears an optional field.
        let mut f = json!({ "tags": null, "seats": 3 })
            .as_object()
            .unwrap()
            .clone();
        take(&d, &mut f, &mut u, true).unwrap();
        let a = u.additional.clone().unwrap();
        assert_eq!(a["seats"], 3);
        assert!(!a.contains_key("tags"));
        assert_eq!(a["plan"], "pro");
    }
}
