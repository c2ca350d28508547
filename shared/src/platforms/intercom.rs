//! Intercom Messenger JWT identity: the profile section, the signed user claims, how they are
//! built from the verified visitor, and the key (the workspace's Messenger API secret, HS256).
//!
//! Intercom verifies `{"alg":"HS256","typ":"JWT"}` with the secret it shows under "Messenger
//! security" (no `kid`). The payload carries `user_id` (a string, required: Intercom refuses a token
//! without it), optional `email`, `name` and further signed attributes, all strings, plus `iat` and
//! `exp` (Intercom suggests about two hours). The page boots the Messenger with
//! `Intercom('boot', {app_id, intercom_user_jwt: token})` and no client-side `user_id` or `email`,
//! so the answer is `{"token": "<jwt>"}`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, ResponseShape, SettingError, TokenEndpoint, redacted_debug,
    subject_from_sub, text,
};
use crate::mapping::{ClaimRule, MappingError};
use crate::values::SecretName;
use crate::values::VerifiedClaims;

/// Intercom's limit on a string data attribute; we hold `user_id` and every signed value to it.
pub const MAX_VALUE_CHARS: usize = 255;

/// The longest lifetime we sign: Intercom suggests about two hours, and a longer one only widens
/// the window in which a copied token identifies the visitor.
pub const MAX_LIFETIME_SECONDS: u64 = 7200;

/// Claim names the token sets itself, so an attribute may not take them.
const RESERVED: [&str; 9] = ["user_id", "email", "name", "iat", "exp", "nbf", "iss", "sub", "aud"];

fn email_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("email"))
}
fn name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("name"))
}

/// An Intercom Messenger profile (`"platform": "intercom"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntercomProfileConfig {
    /// The secret holding the Messenger API secret, as Intercom shows it (used as UTF-8 bytes).
    pub api_secret: SecretName,
    /// `exp - iat`: 1-7200 seconds.
    pub token_lifetime_seconds: Lifetime,
    /// `user_id`: the login's `sub` unless set; a visitor without it is refused.
    #[serde(default = "subject_from_sub")]
    pub user_id: ClaimRule,
    /// `email` (default: the login's `email`; `null` sends none).
    #[serde(default = "email_rule")]
    pub email: Option<ClaimRule>,
    /// `name` (default: the login's `name`; `null` sends none).
    #[serde(default = "name_rule")]
    pub name: Option<ClaimRule>,
    /// Further signed user attributes, each a string from one claim.
    #[serde(default)]
    pub attributes: BTreeMap<AttrName, ClaimRule>,
}

impl Platform for IntercomProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if let Some(name) = self.attributes.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(SettingError::new(
                format!("attributes.{name}"),
                "is a claim the token sets itself: choose another attribute name",
            ));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        KeyKind::Pasted(self.api_secret.clone())
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        Some(self)
    }
}

impl TokenEndpoint for IntercomProfileConfig {
    fn shape(&self) -> ResponseShape {
        ResponseShape::Token
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        _page: &crate::values::PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        Ok(Box::new(intercom_claims(self, identity, now)?))
    }
}

/// Builds Intercom's claims from the verified visitor; refuses one without a `user_id` and any
/// value over Intercom's 255 characters.
pub fn intercom_claims(
    profile: &IntercomProfileConfig,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<IntercomClaims, ClaimsError> {
    // Required whatever the rule's `if_missing` says: Intercom refuses a token without it.
    let user_id = profile
        .user_id
        .apply(identity)?
        .ok_or_else(|| MappingError::MissingClaim {
            claim: profile.user_id.claim.clone(),
        })?;
    let user_id = bounded(user_id, "user_id")?;
    let email = text(profile.email.as_ref(), identity)?
        .map(|v| bounded(v, "email"))
        .transpose()?;
    let name = text(profile.name.as_ref(), identity)?
        .map(|v| bounded(v, "name"))
        .transpose()?;
    let mut attributes = BTreeMap::new();
    for (key, rule) in &profile.attributes {
        if let Some(value) = rule.apply(identity)? {
            attributes.insert(key.clone(), bounded(value, "attributes")?);
        }
    }
    Ok(IntercomClaims {
        user_id,
        email,
        name,
        attributes,
        iat: now,
        exp: now + profile.token_lifetime_seconds.seconds(),
    })
}

fn bounded(value: String, field: &'static str) -> Result<String, ClaimsError> {
    if (1..=MAX_VALUE_CHARS).contains(&value.chars().count()) {
        Ok(value)
    } else {
        Err(ClaimsError::InvalidIdentifier {
            field,
            max: MAX_VALUE_CHARS,
        })
    }
}

impl PlatformClaims for IntercomClaims {
    fn expires_at(&self) -> u64 {
        self.exp
    }

    fn payload(&self) -> Result<Box<RawValue>, serde_json::Error> {
        super::payload_of(self)
    }
}

/// A signed attribute's name: `[A-Za-z0-9_]{1,64}` (Intercom's attribute names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AttrName(String);

impl AttrName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AttrName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let valid = (1..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(Self(value))
        } else {
            Err(format!(
                "`{value}` is not an Intercom attribute name (letters, digits, `_`; 1-64)"
            ))
        }
    }
}

impl From<AttrName> for String {
    fn from(name: AttrName) -> String {
        name.0
    }
}

impl fmt::Display for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token lifetime within [`MAX_LIFETIME_SECONDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct Lifetime(u64);

impl Lifetime {
    pub fn seconds(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Lifetime {
    type Error = String;
    fn try_from(seconds: u64) -> Result<Self, String> {
        if (1..=MAX_LIFETIME_SECONDS).contains(&seconds) {
            Ok(Self(seconds))
        } else {
            Err(format!(
                "{seconds} s is outside the 1-{MAX_LIFETIME_SECONDS} s Intercom token lifetime"
            ))
        }
    }
}

/// The claims of an Intercom Messenger user token. Field order is the serialized order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct IntercomClaims {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub attributes: BTreeMap<AttrName, String>,
    pub iat: u64,
    pub exp: u64,
}

redacted_debug!(IntercomClaims { user_id, email, name, attributes; iat, exp });

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(extra: serde_json::Value) -> IntercomProfileConfig {
        let mut document = json!({"api_secret": "intercom-secret", "token_lifetime_seconds": 7200});
        document
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(document).unwrap()
    }

    fn visitor(claims: serde_json::Value) -> VerifiedClaims {
        VerifiedClaims::from_json(claims).unwrap()
    }

    /// A sample verified visitor through a profile: the exact payload, the key and the shape.
    #[test]
    fn builds_claims_from_a_verified_visitor() {
        let profile = profile(json!({"attributes": {"plan": {"claim": "plan"}}}));
        assert_eq!(profile.validate(), Ok(()));
        let alice = visitor(json!({"sub": "alice-7", "email": "alice@example.com", "name": "Alice N", "plan": "gold"}));
        let claims = intercom_claims(&profile, &alice, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"user_id":"alice-7","email":"alice@example.com","name":"Alice N","plan":"gold","iat":1000,"exp":8200}"#
        );
        assert_eq!(
            profile.key(),
            KeyKind::Pasted(SecretName::try_from("intercom-secret".to_string()).unwrap())
        );
        assert_eq!(profile.shape(), ResponseShape::Token);
        // Optional parts are left out, not sent empty.
        let bare = intercom_claims(&profile, &visitor(json!({"sub": "bob"})), 5).unwrap();
        assert_eq!(bare.payload().unwrap().get(), r#"{"user_id":"bob","iat":5,"exp":7205}"#);
    }

    #[test]
    fn a_visitor_without_user_id_is_refused_even_when_the_rule_says_skip() {
        let skipping = profile(json!({"user_id": {"claim": "customer_no", "if_missing": "skip"}}));
        let refused = intercom_claims(&skipping, &visitor(json!({"sub": "alice"})), 1).unwrap_err();
        assert!(
            matches!(&refused, ClaimsError::Mapping(MappingError::MissingClaim { claim }) if claim == "customer_no"),
            "{refused:?}"
        );
        // Control: the same profile with the claim present mints.
        let ok = intercom_claims(&skipping, &visitor(json!({"sub": "a", "customer_no": "c-1"})), 1).unwrap();
        assert_eq!(ok.user_id, "c-1");
    }

    #[test]
    fn oversized_or_empty_values_are_refused() {
        let profile = profile(json!({"user_id": {"claim": "customer_no"}, "attributes": {"plan": {"claim": "plan"}}}));
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        for (claims, field) in [
            (json!({"sub": "a", "customer_no": long}), "user_id"),
            (json!({"sub": "a", "customer_no": ""}), "user_id"),
            (json!({"sub": "a", "customer_no": "c", "email": long}), "email"),
            (json!({"sub": "a", "customer_no": "c", "name": long}), "name"),
            (json!({"sub": "a", "customer_no": "c", "plan": long}), "attributes"),
        ] {
            let refused = intercom_claims(&profile, &visitor(claims), 1).unwrap_err();
            assert!(
                matches!(refused, ClaimsError::InvalidIdentifier { field: f, max: MAX_VALUE_CHARS } if f == field),
                "{field}: {refused:?}"
            );
        }
        // Control: 255 characters (not bytes: `ø` is two) pass.
        let edge = "ø".repeat(MAX_VALUE_CHARS);
        assert!(
            intercom_claims(
                &profile,
                &visitor(json!({"sub": "a", "customer_no": edge, "plan": edge})),
                1
            )
            .is_ok()
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(Lifetime::try_from(MAX_LIFETIME_SECONDS).is_ok());
        assert!(Lifetime::try_from(MAX_LIFETIME_SECONDS + 1).is_err());
        assert!(Lifetime::try_from(0).is_err());
        for bad in ["", "a b", "a-b", "ø", &"x".repeat(65)] {
            assert!(AttrName::try_from(bad.to_string()).is_err(), "{bad:?} accepted");
        }
        let reserved = profile(json!({"attributes": {"exp": {"claim": "plan"}}}));
        assert_eq!(
            reserved.validate().unwrap_err().field,
            "attributes.exp",
            "an attribute may not overwrite a claim the token sets"
        );
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let profile = profile(json!({"attributes": {"plan": {"claim": "plan"}}}));
        let alice = visitor(
            json!({"sub": "alice-secret-7", "email": "alice@example.com", "name": "Alice N",
            "plan": "gold-tier"}),
        );
        let printed = format!("{:?}", intercom_claims(&profile, &alice, 1_000).unwrap());
        for value in ["alice-secret-7", "alice@example.com", "Alice N", "gold-tier"] {
            assert!(!printed.contains(value), "{value} in {printed}");
        }
        for name in ["user_id", "email", "name", "plan", "iat: 1000", "exp: 8200"] {
            assert!(printed.contains(name), "{name} missing from {printed}");
        }
    }
}
