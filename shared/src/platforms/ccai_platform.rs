//! Google Cloud CCAI Platform web SDK v3 (`authenticate`): the profile section, the token claims,
//! how they are built from the visitor, and the key (the company secret, HS256).
//!
//! The header is `{"alg":"HS256","typ":"JWT"}`, signed with the UTF-8 bytes of the company secret
//! from the portal's developer settings. The claims are `iss` (the company name), `iat`, `exp`
//! (the vendor's example lives one hour), `identifier`, `name` and `email`. `identifier` is how
//! CCAI Platform finds the end user again, so it must be a stable per-user id (a UUID is advised)
//! and never the email, which can change or move to another person. The SDK's `authenticate`
//! promise resolves to the endpoint's body, so the answer is exactly `{"token": "<jwt>"}`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, ResponseShape, SettingError, TokenEndpoint, redacted_debug, text,
};
use crate::mapping::{ClaimRule, MappingError, OnProblem};
use crate::values::SecretName;
use crate::values::VerifiedClaims;

/// The longest lifetime a profile may ask for: the vendor's example, one hour.
pub const MAX_LIFETIME_SECONDS: u64 = 3600;
/// The longest `identifier`, `name` or `email` we sign. CCAI Platform documents no limit; a
/// bound keeps a hostile login from making a token nobody can use.
pub const MAX_VALUE_CHARS: usize = 255;

fn identifier_rule() -> ClaimRule {
    ClaimRule::from_claim("sub")
}
fn name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("name"))
}
fn email_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("email"))
}

/// A CCAI Platform web SDK profile (`"platform": "ccai-platform"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CcaiProfileConfig {
    /// `iss`: the company name, as the CCAI Platform portal shows it.
    pub company_name: String,
    /// The secret holding the company secret (Settings > Developer Settings), HS256 over its
    /// UTF-8 bytes.
    pub company_secret_secret: SecretName,
    /// `exp - iat`, 1-3600 seconds.
    pub token_lifetime_seconds: u64,
    /// `identifier`: a stable per-user id of the verified login (default: `sub`); a visitor
    /// without it gets no token. Never `email`.
    #[serde(default = "identifier_rule")]
    pub identifier: ClaimRule,
    #[serde(default = "name_rule")]
    pub name: Option<ClaimRule>,
    #[serde(default = "email_rule")]
    pub email: Option<ClaimRule>,
}

impl Platform for CcaiProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if self.company_name.trim().is_empty() || self.company_name.chars().count() > MAX_VALUE_CHARS {
            return Err(SettingError::new(
                "company_name",
                "must be the company name from the CCAI Platform portal",
            ));
        }
        if self.company_name.starts_with("REPLACE_WITH") {
            return Err(SettingError::new(
                "company_name",
                "still the quick-start marker: write the company name from the CCAI Platform portal",
            ));
        }
        if !(1..=MAX_LIFETIME_SECONDS).contains(&self.token_lifetime_seconds) {
            return Err(SettingError::new("token_lifetime_seconds", "must be 1-3600"));
        }
        // CCAI Platform finds the end user by `identifier`: an email changes hands and changes.
        if self.identifier.claim.eq_ignore_ascii_case("email") || self.identifier.mask.is_some() {
            return Err(SettingError::new(
                "identifier.claim",
                "must be a stable per-user id (a UUID is advised), never the email or a masked value",
            ));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        KeyKind::Pasted(self.company_secret_secret.clone())
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        Some(self)
    }
}

impl TokenEndpoint for CcaiProfileConfig {
    /// The SDK's `authenticate` promise resolves to the body itself: exactly `{"token": jwt}`.
    fn shape(&self) -> ResponseShape {
        ResponseShape::Token
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        _page: &crate::values::PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        Ok(Box::new(ccai_claims(self, identity, now)?))
    }
}

/// Builds the CCAI Platform claims; refuses a visitor without a usable `identifier`.
pub fn ccai_claims(
    profile: &CcaiProfileConfig,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<CcaiClaims, ClaimsError> {
    let rule = ClaimRule {
        if_missing: OnProblem::Refuse,
        ..profile.identifier.clone()
    };
    let identifier = rule.apply(identity)?.ok_or_else(|| MappingError::MissingClaim {
        claim: rule.claim.clone(),
    })?;
    if looks_like_an_email(&identifier) {
        return Err(MappingError::NotA {
            claim: rule.claim.clone(),
            expected: "a stable user id (it looks like an email address)",
        }
        .into());
    }
    Ok(CcaiClaims {
        iss: profile.company_name.clone(),
        iat: now,
        exp: now + profile.token_lifetime_seconds,
        identifier: bounded(Some(identifier), "identifier")?.unwrap_or_default(),
        name: bounded(text(profile.name.as_ref(), identity)?, "name")?,
        email: bounded(text(profile.email.as_ref(), identity)?, "email")?,
    })
}

fn bounded(value: Option<String>, field: &'static str) -> Result<Option<String>, ClaimsError> {
    match value {
        Some(v) if v.is_empty() || v.chars().count() > MAX_VALUE_CHARS => Err(ClaimsError::InvalidIdentifier {
            field,
            max: MAX_VALUE_CHARS,
        }),
        other => Ok(other),
    }
}

/// `local@domain.tld`-like: what an email used as a user id looks like.
fn looks_like_an_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !domain.contains('@'),
        None => false,
    }
}

/// The claims of a CCAI Platform end-user token. Field order is the serialized order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct CcaiClaims {
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
    pub identifier: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

redacted_debug!(CcaiClaims { identifier, name, email; iss, iat, exp });

impl PlatformClaims for CcaiClaims {
    fn expires_at(&self) -> u64 {
        self.exp
    }

    fn payload(&self) -> Result<Box<RawValue>, serde_json::Error> {
        super::payload_of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(extra: serde_json::Value) -> CcaiProfileConfig {
        let mut document = json!({"company_name": "Example Bank", "company_secret_secret": "whoscalling/ccai-company-secret",
            "token_lifetime_seconds": 3600});
        for (k, v) in extra.as_object().unwrap() {
            document[k] = v.clone();
        }
        serde_json::from_value(document).unwrap()
    }

    /// A sample verified visitor through the default profile: the exact payload, key and shape.
    #[test]
    fn builds_claims_from_a_verified_visitor() {
        let profile = profile(json!({}));
        assert_eq!(profile.validate(), Ok(()));
        let visitor = VerifiedClaims::from_json(json!({"sub": "5b0c7f0e-8d1e-4c59-9a57-1d2f3e4a5b6c",
            "name": "Alice Smith", "email": "alice@example.com", "phone_number": "+4712345678"}))
        .unwrap();
        let claims = ccai_claims(&profile, &visitor, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"iss":"Example Bank","iat":1000,"exp":4600,"identifier":"5b0c7f0e-8d1e-4c59-9a57-1d2f3e4a5b6c","name":"Alice Smith","email":"alice@example.com"}"#
        );
        assert_eq!(
            profile.key(),
            KeyKind::Pasted(SecretName::try_from("whoscalling/ccai-company-secret".to_string()).unwrap())
        );
        assert_eq!(profile.shape(), ResponseShape::Token);
        assert_eq!(ResponseShape::Token.body("t"), json!({"token": "t"}));
        let bare = VerifiedClaims::from_json(json!({"sub": "u-1"})).unwrap();
        assert_eq!(
            ccai_claims(&profile, &bare, 1).unwrap().payload().unwrap().get(),
            r#"{"iss":"Example Bank","iat":1,"exp":3601,"identifier":"u-1"}"#
        );
    }

    #[test]
    fn refuses_a_visitor_without_identifier() {
        let profile = profile(json!({"identifier": {"claim": "customer_uuid"}}));
        let visitor = VerifiedClaims::from_json(json!({"sub": "u-1", "email": "a@example.com"})).unwrap();
        assert!(matches!(
            ccai_claims(&profile, &visitor, 1),
            Err(ClaimsError::Mapping(MappingError::MissingClaim { claim })) if claim == "customer_uuid"
        ));
        // Control: with the claim there is a token.
        let visitor = VerifiedClaims::from_json(json!({"sub": "u-1", "customer_uuid": "u-1"})).unwrap();
        assert!(ccai_claims(&profile, &visitor, 1).is_ok());
    }

    #[test]
    fn refuses_an_identifier_that_looks_like_an_email() {
        let profile = profile(json!({}));
        for sub in ["alice@example.com", "A.B+c@sub.example.co.uk"] {
            let visitor = VerifiedClaims::from_json(json!({"sub": sub})).unwrap();
            assert!(
                matches!(
                    ccai_claims(&profile, &visitor, 1),
                    Err(ClaimsError::Mapping(MappingError::NotA { .. }))
                ),
                "{sub}"
            );
        }
        for sub in ["alice", "auth0|abc@def", "u-1@x"] {
            let visitor = VerifiedClaims::from_json(json!({"sub": sub})).unwrap();
            assert!(ccai_claims(&profile, &visitor, 1).is_ok(), "{sub}");
        }
    }

    #[test]
    fn refuses_oversized_and_empty_values() {
        let profile = profile(json!({"identifier": {"claim": "customer_uuid"}}));
        for (visitor, field) in [
            (json!({"sub": "u", "customer_uuid": "s".repeat(256)}), "identifier"),
            (json!({"sub": "u", "customer_uuid": ""}), "identifier"),
            (
                json!({"sub": "u", "customer_uuid": "u", "name": "n".repeat(256)}),
                "name",
            ),
            (
                json!({"sub": "u", "customer_uuid": "u", "email": format!("{}@example.com", "e".repeat(250))}),
                "email",
            ),
        ] {
            let visitor = VerifiedClaims::from_json(visitor).unwrap();
            assert!(
                matches!(ccai_claims(&profile, &visitor, 1), Err(ClaimsError::InvalidIdentifier { field: f, max: 255 }) if f == field),
                "{field}"
            );
        }
        let visitor =
            VerifiedClaims::from_json(json!({"sub": "u", "customer_uuid": "s".repeat(255), "name": "n".repeat(255)}))
                .unwrap();
        assert!(ccai_claims(&profile, &visitor, 1).is_ok());
    }

    #[test]
    fn validate_refuses_email_identifier_bad_lifetime_and_marker() {
        let cases = [
            (json!({"identifier": {"claim": "email"}}), "identifier.claim"),
            (json!({"identifier": {"claim": "Email"}}), "identifier.claim"),
            (json!({"token_lifetime_seconds": 3601}), "token_lifetime_seconds"),
            (json!({"token_lifetime_seconds": 0}), "token_lifetime_seconds"),
            (json!({"company_name": " "}), "company_name"),
            (
                json!({"company_name": "REPLACE_WITH_CCAI_COMPANY_NAME"}),
                "company_name",
            ),
        ];
        for (extra, field) in cases {
            let error = profile(extra.clone()).validate().unwrap_err();
            assert_eq!(error.field, field, "{extra}");
        }
        assert_eq!(
            profile(json!({"identifier": {"claim": "customer_uuid"}})).validate(),
            Ok(())
        );
        let unknown = serde_json::from_value::<CcaiProfileConfig>(json!({"company_name": "x",
            "company_secret_secret": "s", "token_lifetime_seconds": 60, "phone": {"claim": "phone_number"}}));
        assert!(unknown.is_err());
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let claims = CcaiClaims {
            iss: "Example Bank".into(),
            iat: 1_000,
            exp: 4_600,
            identifier: "5b0c7f0e-uuid".into(),
            name: Some("Alice Smith".into()),
            email: None,
        };
        let printed = format!("{claims:?}");
        for value in ["5b0c7f0e-uuid", "Alice Smith"] {
            assert!(!printed.contains(value), "{value} in {printed}");
        }
        for name in ["identifier", "name", "email: None", "iat: 1000", "exp: 4600"] {
            assert!(printed.contains(name), "{name} missing from {printed}");
        }
    }
}
