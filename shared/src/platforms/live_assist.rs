//! Live Assist for Microsoft Dynamics 365 (CafeX) authenticated chat: an RS256 JWT whose `sub` is
//! the CRM contact GUID, so the agent's screen can pop the contact record. `iat` and `exp` are
//! numbers of seconds; `iss` is the website's domain name. Live Assist holds exactly one pasted
//! public key, so a profile signs with a pinned key only; the page's callback takes `body.token`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, ResponseShape, SettingError, TokenEndpoint, redacted_debug, text,
};
use crate::mapping::{ClaimRule, MappingError};
use crate::values::PinName;
use crate::values::VerifiedClaims;

fn given_name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("given_name"))
}
fn family_name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("family_name"))
}

/// A Live Assist for Dynamics 365 profile (`"platform": "live-assist"`; RS256, `sub` = CRM contact GUID).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveAssistProfileConfig {
    /// `iss`: the website's domain name.
    pub issuer: String,
    pub token_lifetime_seconds: u64,
    /// The claim of the verified login that holds the CRM contact GUID.
    pub crm_contact_id_claim: String,
    #[serde(default = "given_name_rule")]
    pub given_name: Option<ClaimRule>,
    #[serde(default = "family_name_rule")]
    pub family_name: Option<ClaimRule>,
    /// The pasted-key slot (default: the profile's name). Live Assist holds exactly one pasted
    /// key, so this profile never signs with a rotating key.
    #[serde(default)]
    pub pinned_key: Option<PinName>,
}

impl Platform for LiveAssistProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if self.issuer.trim().is_empty() || self.issuer.contains('/') {
            return Err(SettingError::new("issuer", "must be the website's domain name"));
        }
        if !(1..=7200).contains(&self.token_lifetime_seconds) {
            return Err(SettingError::new("token_lifetime_seconds", "must be 1-7200"));
        }
        if self.crm_contact_id_claim.is_empty() {
            return Err(SettingError::new(
                "crm_contact_id_claim",
                "name the claim with the CRM contact GUID",
            ));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        KeyKind::Pinned(self.pinned_key.clone())
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        Some(self)
    }
}

impl TokenEndpoint for LiveAssistProfileConfig {
    fn shape(&self) -> ResponseShape {
        ResponseShape::Token
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        _page: &crate::values::PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        Ok(Box::new(live_assist_claims(self, identity, now)?))
    }
}

/// Builds Live Assist's claims; refuses a visitor without a CRM contact GUID.
pub fn live_assist_claims(
    profile: &LiveAssistProfileConfig,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<LiveAssistClaims, ClaimsError> {
    let claim = &profile.crm_contact_id_claim;
    let raw = match identity.get(claim) {
        Some(serde_json::Value::String(value)) => value,
        Some(_) => return Err(ClaimsError::NotACrmContactId { claim: claim.clone() }),
        None => return Err(MappingError::MissingClaim { claim: claim.clone() }.into()),
    };
    let sub = CrmContactId::parse(raw).ok_or_else(|| ClaimsError::NotACrmContactId { claim: claim.clone() })?;
    Ok(LiveAssistClaims {
        sub,
        given_name: text(profile.given_name.as_ref(), identity)?,
        family_name: text(profile.family_name.as_ref(), identity)?,
        iss: profile.issuer.clone(),
        iat: now,
        exp: now + profile.token_lifetime_seconds,
    })
}

impl PlatformClaims for LiveAssistClaims {
    fn expires_at(&self) -> u64 {
        self.exp
    }

    fn payload(&self) -> Result<Box<RawValue>, serde_json::Error> {
        super::payload_of(self)
    }
}

/// A Dynamics CRM record id: a GUID (`8-4-4-4-12` hexadecimal digits), braces and case as CRM
/// accepts them are normalized to lowercase without braces.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CrmContactId(String);

impl CrmContactId {
    pub fn parse(value: &str) -> Option<Self> {
        let trimmed = value.trim().trim_start_matches('{').trim_end_matches('}');
        let groups: Vec<&str> = trimmed.split('-').collect();
        let lengths_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
        let hex_ok = groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
        (lengths_ok && hex_ok).then(|| Self(trimmed.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CrmContactId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CrmContactId([redacted])")
    }
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct LiveAssistClaims {
    pub sub: CrmContactId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

redacted_debug!(LiveAssistClaims { sub, given_name, family_name, iss; iat, exp });

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample verified visitor through a profile, and one without a CRM contact GUID.
    #[test]
    fn builds_claims_from_a_verified_visitor() {
        let profile: LiveAssistProfileConfig = serde_json::from_value(serde_json::json!({
            "issuer": "www.example.com", "token_lifetime_seconds": 7200, "crm_contact_id_claim": "crm_id"}))
        .unwrap();
        let visitor = VerifiedClaims::from_json(serde_json::json!({"sub": "alice", "given_name": "Alice",
            "crm_id": "{3F2504E0-4F89-41D3-9A0C-0305E82C3301}"}))
        .unwrap();
        let claims = live_assist_claims(&profile, &visitor, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"sub":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","given_name":"Alice","iss":"www.example.com","iat":1000,"exp":8200}"#
        );
        assert_eq!(profile.key(), KeyKind::Pinned(None));
        assert_eq!(profile.shape(), ResponseShape::Token);
        let bob = VerifiedClaims::from_json(serde_json::json!({"sub": "bob", "crm_id": "bob"})).unwrap();
        assert!(matches!(
            live_assist_claims(&profile, &bob, 1),
            Err(ClaimsError::NotACrmContactId { .. })
        ));
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let claims = LiveAssistClaims {
            sub: CrmContactId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap(),
            given_name: Some("Alice".into()),
            family_name: None,
            iss: "www.example.com".into(),
            iat: 1,
            exp: 2,
        };
        let printed = format!("{claims:?}");
        assert!(!printed.contains("3f2504e0") && !printed.contains("Alice"), "{printed}");
        assert!(
            printed.contains("given_name") && printed.contains("family_name: None"),
            "{printed}"
        );
    }

    #[test]
    fn crm_contact_ids_are_guids() {
        let id = CrmContactId::parse("{3F2504E0-4F89-41D3-9A0C-0305E82C3301}").unwrap();
        assert_eq!(id.as_str(), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        for bad in [
            "",
            "alice",
            "3f2504e0-4f89-41d3-9a0c-0305e82c330",
            "3f2504e0-4f89-41d3-9a0c-0305e82c33zz",
            "3f2504e04f8941d39a0c0305e82c3301",
        ] {
            assert!(CrmContactId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn times_are_numbers_of_seconds() {
        let claims = LiveAssistClaims {
            sub: CrmContactId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap(),
            given_name: Some("Alice".into()),
            family_name: None,
            iss: "www.example.com".into(),
            iat: 1_800_000_000,
            exp: 1_800_007_200,
        };
        let value = serde_json::to_value(&claims).unwrap();
        assert!(value["iat"].is_u64() && value["exp"].is_u64());
        assert!(value.get("family_name").is_none());
    }
}
