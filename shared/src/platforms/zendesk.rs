//! Zendesk messaging (Web Widget) end-user authentication: an HS256 JWT with the signing key's id
//! in the header, `scope: "user"`, `external_id` (1-255 characters), an optional `name`, and
//! `email`/`email_verified` only when the profile opts in (Zendesk answers 409 when a verified
//! email already belongs to another `external_id`). The key is the vendor's: the operator stores
//! the key id and its secret together, as one JSON secret, so the header's `kid` always matches the
//! secret that signs. The page's `jwtCallback` takes the bare token; the snippet unwraps
//! `{"token": "<jwt>"}`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, ResponseShape, SettingError, TokenEndpoint, redacted_debug, text,
};
use crate::mapping::{ClaimRule, MappingError};
use crate::values::SecretName;
use crate::values::VerifiedClaims;

/// Zendesk's limit on `external_id`.
pub const EXTERNAL_ID_MAX_CHARS: usize = 255;
/// Zendesk documents no maximum; an hour is the most we sign, five minutes the default.
pub const MAX_LIFETIME_SECONDS: u64 = 3600;

fn default_lifetime() -> u64 {
    300
}
fn external_id_rule() -> ClaimRule {
    super::subject_from_sub()
}
fn name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("name"))
}

/// A Zendesk messaging profile (`"platform": "zendesk-messaging"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskProfileConfig {
    /// The secret holding `{"kid": "<key id>", "secret": "<shared secret>"}` from Zendesk's
    /// Admin Center (Account > Security > End user authentication > Messaging).
    pub key_secret: SecretName,
    /// `exp - now`; 1-3600, default 300.
    #[serde(default = "default_lifetime")]
    pub token_lifetime_seconds: u64,
    /// `external_id`: the stable user id (default: the login's `sub`).
    #[serde(default = "external_id_rule")]
    pub external_id: ClaimRule,
    /// `name` (default: the login's `name`; `null` to leave it out).
    #[serde(default = "name_rule")]
    pub name: Option<ClaimRule>,
    /// Sends `email` (from this claim) and `email_verified` (the login's `email_verified` is
    /// `true`). Off unless asked for: Zendesk refuses a verified email tied to another user.
    #[serde(default)]
    pub email: Option<ClaimRule>,
}

impl Platform for ZendeskProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if !(1..=MAX_LIFETIME_SECONDS).contains(&self.token_lifetime_seconds) {
            return Err(SettingError::new(
                "token_lifetime_seconds",
                format!("must be 1-{MAX_LIFETIME_SECONDS} (Zendesk advises a short lifetime)"),
            ));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        KeyKind::PastedWithKid(self.key_secret.clone())
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        Some(self)
    }
}

impl TokenEndpoint for ZendeskProfileConfig {
    /// `{"token": jwt}`: the page passes `body.token` to `jwtCallback`.
    fn shape(&self) -> ResponseShape {
        ResponseShape::Token
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        _page: &crate::values::PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        Ok(Box::new(zendesk_claims(self, identity, now)?))
    }
}

/// Builds Zendesk's claims; refuses a visitor without an `external_id` of 1-255 characters.
pub fn zendesk_claims(
    profile: &ZendeskProfileConfig,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<ZendeskClaims, ClaimsError> {
    let rule = &profile.external_id;
    let external_id = rule.apply(identity)?.ok_or_else(|| MappingError::MissingClaim {
        claim: rule.claim.clone(),
    })?;
    let chars = external_id.chars().count();
    if !(1..=EXTERNAL_ID_MAX_CHARS).contains(&chars) {
        return Err(ClaimsError::InvalidIdentifier {
            field: "external_id",
            max: EXTERNAL_ID_MAX_CHARS,
        });
    }
    let email = text(profile.email.as_ref(), identity)?;
    // `email_verified` travels only with an email, and is `true` only when the login says so
    // (API Gateway's JWT authorizer hands every claim on as a string, so `"true"` counts).
    let email_verified = email.as_ref().map(|_| {
        matches!(identity.get("email_verified"), Some(serde_json::Value::Bool(true)))
            || identity.get("email_verified").and_then(|v| v.as_str()) == Some("true")
    });
    Ok(ZendeskClaims {
        scope: "user",
        external_id,
        name: text(profile.name.as_ref(), identity)?,
        email,
        email_verified,
        exp: now + profile.token_lifetime_seconds,
    })
}

/// The claims of a Zendesk messaging token. Field order is the serialized order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ZendeskClaims {
    pub scope: &'static str,
    pub external_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    pub exp: u64,
}

redacted_debug!(ZendeskClaims { external_id, name, email; scope, email_verified, exp });

impl PlatformClaims for ZendeskClaims {
    fn expires_at(&self) -> u64 {
        self.exp
    }

    fn payload(&self) -> Result<Box<RawValue>, serde_json::Error> {
        super::payload_of(self)
    }
}

/// The secret's value: the key id Zendesk shows beside the shared secret, and the secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskKey {
    pub kid: String,
    pub secret: String,
}

impl std::fmt::Debug for ZendeskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZendeskKey")
            .field("kid", &self.kid)
            .field("secret", &super::Redacted)
            .finish()
    }
}

impl Drop for ZendeskKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl ZendeskKey {
    /// Parses the stored JSON; the reason names what is wrong, never the value.
    pub fn parse(value: &str) -> Result<Self, String> {
        let key: Self = serde_json::from_str(value)
            .map_err(|_| "is not the JSON object {\"kid\": \"<key id>\", \"secret\": \"<secret>\"}".to_string())?;
        if key.kid.trim().is_empty() || key.kid.len() > 256 {
            return Err("has an empty or oversized `kid`".into());
        }
        if key.secret.is_empty() {
            return Err("has an empty `secret`".into());
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(extra: serde_json::Value) -> ZendeskProfileConfig {
        let mut document = json!({"key_secret": "whoscalling/zendesk-key"});
        document
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(document).unwrap()
    }

    fn visitor(claims: serde_json::Value) -> VerifiedClaims {
        VerifiedClaims::from_json(claims).unwrap()
    }

    #[test]
    fn builds_the_exact_payload_from_a_verified_visitor() {
        let plain = profile(json!({}));
        assert_eq!(plain.validate(), Ok(()));
        let alice =
            visitor(json!({"sub": "alice-7", "name": "Alice", "email": "a@example.com", "email_verified": true}));
        let claims = zendesk_claims(&plain, &alice, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"scope":"user","external_id":"alice-7","name":"Alice","exp":1300}"#
        );
        let opted_in = profile(json!({"email": {"claim": "email"}, "token_lifetime_seconds": 120}));
        let claims = zendesk_claims(&opted_in, &alice, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"scope":"user","external_id":"alice-7","name":"Alice","email":"a@example.com","email_verified":true,"exp":1120}"#
        );
        for (said, verified) in [
            (json!(true), true),
            (json!("true"), true),
            (json!("yes"), false),
            (json!(1), false),
        ] {
            let bob = visitor(json!({"sub": "bob", "email": "b@example.com", "email_verified": said}));
            let claims = zendesk_claims(&opted_in, &bob, 1_000).unwrap();
            assert_eq!(claims.email_verified, Some(verified), "{said}");
        }
        let silent = visitor(json!({"sub": "bob", "email": "b@example.com"}));
        assert_eq!(
            zendesk_claims(&opted_in, &silent, 1).unwrap().email_verified,
            Some(false)
        );
        assert_eq!(
            plain.key(),
            KeyKind::PastedWithKid(SecretName::try_from("whoscalling/zendesk-key".to_string()).unwrap())
        );
        assert_eq!(plain.shape(), ResponseShape::Token);
    }

    #[test]
    fn refuses_a_missing_or_oversized_external_id() {
        let plain = profile(json!({}));
        // `sub` is always present in a verified login; a profile may take the id from another claim.
        let by_crm = profile(json!({"external_id": {"claim": "crm"}}));
        let missing = zendesk_claims(&by_crm, &visitor(json!({"sub": "x"})), 1);
        assert!(
            matches!(missing, Err(ClaimsError::Mapping(MappingError::MissingClaim { ref claim })) if claim == "crm"),
            "{missing:?}"
        );
        // A verified `sub` is at most 255 characters already; another claim may be longer.
        let at_limit = visitor(json!({"sub": "x", "crm": "é".repeat(255)}));
        assert!(
            zendesk_claims(&by_crm, &at_limit, 1).is_ok(),
            "control: 255 characters pass"
        );
        assert!(zendesk_claims(&plain, &visitor(json!({"sub": "é".repeat(255)})), 1).is_ok());
        let long = visitor(json!({"sub": "x", "crm": "é".repeat(256)}));
        assert!(matches!(
            zendesk_claims(&by_crm, &long, 1),
            Err(ClaimsError::InvalidIdentifier {
                field: "external_id",
                max: 255
            })
        ));
        let empty = visitor(json!({"sub": "x", "crm": ""}));
        assert!(zendesk_claims(&by_crm, &empty, 1).is_err(), "an empty id is no id");
    }

    #[test]
    fn lifetime_must_be_short() {
        assert_eq!(profile(json!({"token_lifetime_seconds": 3600})).validate(), Ok(()));
        for bad in [0, 3601] {
            let error = profile(json!({"token_lifetime_seconds": bad})).validate().unwrap_err();
            assert_eq!(error.field, "token_lifetime_seconds");
        }
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let opted_in = profile(json!({"email": {"claim": "email"}}));
        let alice =
            visitor(json!({"sub": "alice-secret-7", "name": "Alice Private", "email": "alice@private.example"}));
        let printed = format!("{:?}", zendesk_claims(&opted_in, &alice, 1_000).unwrap());
        for value in ["alice-secret-7", "Alice Private", "alice@private.example"] {
            assert!(!printed.contains(value), "{value} in {printed}");
        }
        for name in ["external_id", "name", "email", "exp: 1300"] {
            assert!(printed.contains(name), "{name} missing from {printed}");
        }
        let key = ZendeskKey::parse(r#"{"kid": "app_1", "secret": "very-secret-bytes"}"#).unwrap();
        assert!(!format!("{key:?}").contains("very-secret-bytes"));
    }

    #[test]
    fn the_key_secret_must_be_the_json_object() {
        let key = ZendeskKey::parse(r#"{"kid": "app_64f0c0ffee", "secret": "s3cr3t"}"#).unwrap();
        assert_eq!((key.kid.as_str(), key.secret.as_str()), ("app_64f0c0ffee", "s3cr3t"));
        for bad in [
            "s3cr3t",
            r#"{"secret": "s"}"#,
            r#"{"kid": "", "secret": "s"}"#,
            r#"{"kid": "k", "secret": ""}"#,
            r#"{"kid": "k", "secret": "s", "extra": 1}"#,
        ] {
            let reason = ZendeskKey::parse(bad).unwrap_err();
            assert!(!reason.contains("s3cr3t"), "{reason}");
        }
    }
}
