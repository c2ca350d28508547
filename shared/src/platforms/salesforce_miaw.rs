//! Salesforce Messaging for In-App and Web (Enhanced Chat) user verification: an RS256 JWT signed
//! with our own rotating key (`kid` in the header), with `iss` equal byte for byte to the keyset's
//! "JSON web key issuer", `sub` (the verified login's stable id, 1-255 characters), `iat` and a
//! short `exp`; no `aud`. Salesforce's keyset holds our keys either as our JWKS URL or as single
//! JWKs with an `x5c` certificate, uploaded one by one (`GET /public-key/{profile}`, see
//! [`PublicKeyFormat::SalesforceJwk`]). The page passes `body.token` to
//! `embeddedservice_bootstrap.userVerificationAPI.setIdentityToken`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, PublicKeyFormat, ResponseShape, SettingError, TokenEndpoint,
    redacted_debug,
};
use crate::mapping::{ClaimRule, MappingError};
use crate::values::SigningAlgorithm;
use crate::values::VerifiedClaims;

/// The most characters we send in `sub` (Salesforce documents none; 255 is the common bound).
pub const SUBJECT_MAX_CHARS: usize = 255;
/// Salesforce documents no maximum lifetime (unconfirmed); an hour is the most we sign.
pub const MAX_LIFETIME_SECONDS: u64 = 3600;
/// The keyset's "JSON web key issuer" is a short text field; we refuse anything longer.
pub const ISSUER_MAX_CHARS: usize = 255;

fn default_lifetime() -> u64 {
    300
}
fn subject_rule() -> ClaimRule {
    super::subject_from_sub()
}

/// A Salesforce Enhanced Chat profile (`"platform": "salesforce-miaw"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceProfileConfig {
    /// `iss`: exactly the keyset's "JSON web key issuer" in Salesforce Setup.
    pub issuer: String,
    /// `exp - iat`; 1-3600, default 300.
    #[serde(default = "default_lifetime")]
    pub token_lifetime_seconds: u64,
    /// `sub`: the stable user id (default: the login's `sub`).
    #[serde(default = "subject_rule")]
    pub subject: ClaimRule,
}

impl Platform for SalesforceProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if self.issuer.is_empty() || self.issuer.trim() != self.issuer {
            return Err(SettingError::new(
                "issuer",
                "must be the keyset's JSON web key issuer exactly: not empty, no surrounding spaces",
            ));
        }
        if self.issuer.chars().count() > ISSUER_MAX_CHARS || self.issuer.chars().any(char::is_control) {
            return Err(SettingError::new(
                "issuer",
                format!("at most {ISSUER_MAX_CHARS} characters, no control characters"),
            ));
        }
        if !(1..=MAX_LIFETIME_SECONDS).contains(&self.token_lifetime_seconds) {
            return Err(SettingError::new(
                "token_lifetime_seconds",
                format!("must be 1-{MAX_LIFETIME_SECONDS} (keep it short; the page fetches a new one on expiry)"),
            ));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        KeyKind::Rotating(SigningAlgorithm::RS256)
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        Some(self)
    }

    /// One JWK with its `x5c` certificate: what a Salesforce keyset takes per key.
    fn public_key_format(&self) -> PublicKeyFormat {
        PublicKeyFormat::SalesforceJwk
    }
}

impl TokenEndpoint for SalesforceProfileConfig {
    /// `{"token": jwt}`: the page passes `body.token` to `setIdentityToken`.
    fn shape(&self) -> ResponseShape {
        ResponseShape::Token
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        _page: &crate::values::PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        Ok(Box::new(salesforce_claims(self, identity, now)?))
    }
}

/// Builds Salesforce's claims; refuses a visitor without a `sub` of 1-255 characters.
pub fn salesforce_claims(
    profile: &SalesforceProfileConfig,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<SalesforceClaims, ClaimsError> {
    let rule = &profile.subject;
    let sub = rule.apply(identity)?.ok_or_else(|| MappingError::MissingClaim {
        claim: rule.claim.clone(),
    })?;
    if !(1..=SUBJECT_MAX_CHARS).contains(&sub.chars().count()) {
        return Err(ClaimsError::InvalidIdentifier {
            field: "sub",
            max: SUBJECT_MAX_CHARS,
        });
    }
    Ok(SalesforceClaims {
        iss: profile.issuer.clone(),
        sub,
        iat: now,
        exp: now + profile.token_lifetime_seconds,
    })
}

/// The claims of a Salesforce identity token. Field order is the serialized order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SalesforceClaims {
    pub iss: String,
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
}

redacted_debug!(SalesforceClaims { sub; iss, iat, exp });

impl PlatformClaims for SalesforceClaims {
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

    fn profile(extra: serde_json::Value) -> SalesforceProfileConfig {
        let mut document = json!({"issuer": "https://chat.example.com"});
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
        let alice = visitor(json!({"sub": "alice-7", "name": "Alice", "email": "a@example.com"}));
        let claims = salesforce_claims(&plain, &alice, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"iss":"https://chat.example.com","sub":"alice-7","iat":1000,"exp":1300}"#
        );
        assert_eq!(plain.key(), KeyKind::Rotating(SigningAlgorithm::RS256));
        assert_eq!(plain.shape(), ResponseShape::Token);
        assert_eq!(plain.public_key_format(), PublicKeyFormat::SalesforceJwk);
        let short = profile(json!({"token_lifetime_seconds": 60}));
        assert_eq!(salesforce_claims(&short, &alice, 1_000).unwrap().exp, 1_060);
    }

    #[test]
    fn refuses_a_missing_or_oversized_subject() {
        let by_crm = profile(json!({"subject": {"claim": "crm", "if_missing": "refuse"}}));
        let missing = salesforce_claims(&by_crm, &visitor(json!({"sub": "x"})), 1);
        assert!(
            matches!(missing, Err(ClaimsError::Mapping(MappingError::MissingClaim { ref claim })) if claim == "crm"),
            "{missing:?}"
        );
        let at_limit = visitor(json!({"sub": "x", "crm": "é".repeat(255)}));
        assert!(salesforce_claims(&by_crm, &at_limit, 1).is_ok(), "control: 255 pass");
        let long = visitor(json!({"sub": "x", "crm": "é".repeat(256)}));
        assert!(matches!(
            salesforce_claims(&by_crm, &long, 1),
            Err(ClaimsError::InvalidIdentifier { field: "sub", max: 255 })
        ));
        let empty = visitor(json!({"sub": "x", "crm": ""}));
        assert!(salesforce_claims(&by_crm, &empty, 1).is_err(), "an empty id is no id");
    }

    #[test]
    fn the_issuer_and_lifetime_are_checked_at_cold_start() {
        for bad in ["", " https://chat.example.com", "https://chat.example.com\n", "a\u{7}b"] {
            let error = profile(json!({"issuer": bad})).validate().unwrap_err();
            assert_eq!(error.field, "issuer", "{bad:?}");
        }
        let long = "i".repeat(256);
        assert_eq!(profile(json!({"issuer": long})).validate().unwrap_err().field, "issuer");
        assert_eq!(profile(json!({"issuer": "whoscalling"})).validate(), Ok(()));
        assert_eq!(profile(json!({"token_lifetime_seconds": 3600})).validate(), Ok(()));
        for bad in [0, 3601] {
            let error = profile(json!({"token_lifetime_seconds": bad})).validate().unwrap_err();
            assert_eq!(error.field, "token_lifetime_seconds");
        }
        let unknown = serde_json::from_value::<SalesforceProfileConfig>(json!({"issuer": "i", "aud": "x"}));
        assert!(unknown.is_err(), "no aud setting: Salesforce takes none");
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let alice = visitor(json!({"sub": "alice-secret-7"}));
        let printed = format!("{:?}", salesforce_claims(&profile(json!({})), &alice, 1_000).unwrap());
        assert!(!printed.contains("alice-secret-7"), "{printed}");
        for name in ["sub", "iss", "exp: 1300"] {
            assert!(printed.contains(name), "{name} missing from {printed}");
        }
    }
}
