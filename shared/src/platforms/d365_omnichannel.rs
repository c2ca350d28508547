//! Dynamics 365 Contact Center / Omnichannel authenticated chat: an RS256 JWT signed with our own
//! rotating key, `sub` = the CRM contact (or account) GUID of the verified login, `iss`, `iat`,
//! `exp`, optional `nbf`, optional `given_name`, `family_name`, `email`, `phone_number`,
//! `preferred_username`, and optional `lwicontexts`: a JSON *string* holding a serialized flat
//! object (at most 100 entries, primitive values) of the workstream's context variables.
//!
//! The chat settings take a public-key URL that Dynamics fetches: `GET /public-key/{profile}`
//! answers with the key list (`[{kid, publicKey, expiry}]`, [`PublicKeyFormat::D365KeyList`]),
//! so the token's `kid` selects the key across rotations. The widget's
//! `getAuthenticationToken(callback)` passes the response body as is to `callback`, so the
//! answer is the bare token ([`ResponseShape::Bare`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::live_assist::CrmContactId;
use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, PublicKeyFormat, ResponseShape, SettingError, TokenEndpoint,
    redacted_debug, text,
};
use crate::mapping::{ClaimRule, Convert, MappingError};
use crate::values::SigningAlgorithm;
use crate::values::VerifiedClaims;

/// Dynamics documents no maximum lifetime; an hour is the most we sign, five minutes the default.
pub const MAX_LIFETIME_SECONDS: u64 = 3600;
/// Dynamics' limit on the entries of `lwicontexts`.
pub const MAX_CONTEXT_VARIABLES: usize = 100;
/// The longest context variable name we accept (Dynamics' own names are short, `msdyn_cartvalue`).
pub const MAX_CONTEXT_NAME_CHARS: usize = 100;
/// The longest value of a claim or context variable we sign: Dynamics documents none, and a
/// bound keeps a hostile login from making a token nobody can use.
pub const MAX_VALUE_CHARS: usize = 1024;

fn default_lifetime() -> u64 {
    300
}
fn crm_claim() -> String {
    "crm_contact_id".into()
}
fn given_name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("given_name"))
}
fn family_name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("family_name"))
}

/// A Dynamics 365 Omnichannel profile (`"platform": "d365-omnichannel"`; RS256 with our rotating key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct D365ProfileConfig {
    /// `iss`: what the chat authentication settings expect (Microsoft's sample: the site's domain).
    pub issuer: String,
    /// `exp - iat`; 1-3600, default 300.
    #[serde(default = "default_lifetime")]
    pub token_lifetime_seconds: u64,
    /// The login claim holding the CRM contact (or account) GUID (default `crm_contact_id`).
    #[serde(default = "crm_claim")]
    pub crm_contact_id_claim: String,
    /// Adds `nbf` (= `iat`).
    #[serde(default)]
    pub not_before: bool,
    #[serde(default = "given_name_rule")]
    pub given_name: Option<ClaimRule>,
    #[serde(default = "family_name_rule")]
    pub family_name: Option<ClaimRule>,
    /// Off unless asked for (personal data the record match does not need).
    #[serde(default)]
    pub email: Option<ClaimRule>,
    #[serde(default)]
    pub phone_number: Option<ClaimRule>,
    #[serde(default)]
    pub preferred_username: Option<ClaimRule>,
    /// Context variable name -> the login claim it is taken from; serialized into `lwicontexts`.
    /// The names must be the workstream's context variables.
    #[serde(default)]
    pub context_variables: BTreeMap<String, ClaimRule>,
}

/// A context variable name: a letter or `_`, then letters, digits or `_` (1-100 characters).
fn valid_context_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().count() <= MAX_CONTEXT_NAME_CHARS
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Platform for D365ProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if self.issuer.trim().is_empty() || self.issuer.chars().any(char::is_whitespace) {
            return Err(SettingError::new("issuer", "must be a non-empty value without spaces"));
        }
        if !(1..=MAX_LIFETIME_SECONDS).contains(&self.token_lifetime_seconds) {
            return Err(SettingError::new(
                "token_lifetime_seconds",
                format!("must be 1-{MAX_LIFETIME_SECONDS}"),
            ));
        }
        if self.crm_contact_id_claim.is_empty() {
            return Err(SettingError::new(
                "crm_contact_id_claim",
                "name the claim with the CRM contact GUID",
            ));
        }
        if self.context_variables.len() > MAX_CONTEXT_VARIABLES {
            return Err(SettingError::new(
                "context_variables",
                format!("at most {MAX_CONTEXT_VARIABLES} (Dynamics' limit on lwicontexts)"),
            ));
        }
        if let Some(name) = self.context_variables.keys().find(|n| !valid_context_name(n)) {
            return Err(SettingError::new(
                format!("context_variables.{name}"),
                "a name is a letter or `_`, then letters, digits or `_` (1-100 characters)",
            ));
        }
        if let Some(name) = self
            .context_variables
            .iter()
            .find(|(_, rule)| rule.convert == Convert::Json)
            .map(|(name, _)| name)
        {
            return Err(SettingError::new(
                format!("context_variables.{name}.convert"),
                "a context variable is a primitive value: `strict` or `scalar`, not `json`",
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

    /// Dynamics fetches the key list (`[{kid, publicKey, expiry}]`), or one PEM.
    fn public_key_format(&self) -> PublicKeyFormat {
        PublicKeyFormat::D365KeyList
    }
}

impl TokenEndpoint for D365ProfileConfig {
    /// The bare token: the widget's sample passes the response body as is to its callback.
    fn shape(&self) -> ResponseShape {
        ResponseShape::Bare
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        _page: &crate::values::PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        Ok(Box::new(d365_claims(self, identity, now)?))
    }
}

/// One optional claim, refused when longer than [`MAX_VALUE_CHARS`].
fn bounded(
    rule: Option<&ClaimRule>,
    identity: &VerifiedClaims,
    field: &'static str,
) -> Result<Option<String>, ClaimsError> {
    let value = text(rule, identity)?;
    if value.as_ref().is_some_and(|v| v.chars().count() > MAX_VALUE_CHARS) {
        return Err(ClaimsError::InvalidIdentifier {
            field,
            max: MAX_VALUE_CHARS,
        });
    }
    Ok(value)
}

/// Builds the claims; refuses a visitor without a CRM GUID, or with an oversized value.
pub fn d365_claims(
    profile: &D365ProfileConfig,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<D365Claims, ClaimsError> {
    let claim = &profile.crm_contact_id_claim;
    let raw = match identity.get(claim) {
        Some(serde_json::Value::String(value)) => value,
        Some(_) => return Err(ClaimsError::NotACrmContactId { claim: claim.clone() }),
        None => return Err(MappingError::MissingClaim { claim: claim.clone() }.into()),
    };
    let sub = CrmContactId::parse(raw).ok_or_else(|| ClaimsError::NotACrmContactId { claim: claim.clone() })?;
    let mut contexts = serde_json::Map::new();
    for (name, rule) in &profile.context_variables {
        if let Some(value) = bounded(Some(rule), identity, "lwicontexts")? {
            contexts.insert(name.clone(), serde_json::Value::String(value));
        }
    }
    let lwicontexts = if contexts.is_empty() {
        None
    } else {
        Some(serde_json::Value::Object(contexts).to_string())
    };
    Ok(D365Claims {
        iss: profile.issuer.clone(),
        sub,
        iat: now,
        exp: now + profile.token_lifetime_seconds,
        nbf: profile.not_before.then_some(now),
        given_name: bounded(profile.given_name.as_ref(), identity, "given_name")?,
        family_name: bounded(profile.family_name.as_ref(), identity, "family_name")?,
        email: bounded(profile.email.as_ref(), identity, "email")?,
        phone_number: bounded(profile.phone_number.as_ref(), identity, "phone_number")?,
        preferred_username: bounded(profile.preferred_username.as_ref(), identity, "preferred_username")?,
        lwicontexts,
    })
}

/// The claims of a Dynamics 365 authenticated-chat token. Field order is the serialized order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct D365Claims {
    pub iss: String,
    pub sub: CrmContactId,
    pub iat: u64,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The serialized flat object of context variables (a string, as Dynamics wants it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lwicontexts: Option<String>,
}

redacted_debug!(D365Claims {
    sub, given_name, family_name, email, phone_number, preferred_username, lwicontexts; iss, iat, exp, nbf
});

impl PlatformClaims for D365Claims {
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

    const GUID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    fn profile(extra: serde_json::Value) -> D365ProfileConfig {
        let mut document = json!({"issuer": "www.example.com"});
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
    fn builds_claims_with_a_guid_sub_and_lwicontexts_as_a_string() {
        let profile = profile(json!({"not_before": true, "context_variables": {
            "msdyn_cartvalue": {"claim": "cart", "convert": "scalar"}, "tier": {"claim": "tier"}}}));
        assert_eq!(profile.validate(), Ok(()));
        let alice = visitor(
            json!({"sub": "alice", "given_name": "Alice", "cart": 10000, "tier": "gold",
            "crm_contact_id": "{3F2504E0-4F89-41D3-9A0C-0305E82C3301}"}),
        );
        let claims = d365_claims(&profile, &alice, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            format!(
                r#"{{"iss":"www.example.com","sub":"{GUID}","iat":1000,"exp":1300,"nbf":1000,"given_name":"Alice","lwicontexts":"{{\"msdyn_cartvalue\":\"10000\",\"tier\":\"gold\"}}"}}"#
            )
        );
        let contexts: serde_json::Value = serde_json::from_str(claims.lwicontexts.as_deref().unwrap()).unwrap();
        assert_eq!(contexts, json!({"msdyn_cartvalue": "10000", "tier": "gold"}));
        assert_eq!(profile.key(), KeyKind::Rotating(SigningAlgorithm::RS256));
        assert_eq!(profile.shape(), ResponseShape::Bare);
        assert_eq!(profile.public_key_format(), PublicKeyFormat::D365KeyList);
        // No context variable configured or present: no lwicontexts at all.
        let bare = d365_claims(&self::profile(json!({})), &alice, 1).unwrap();
        assert!(bare.lwicontexts.is_none() && bare.nbf.is_none());
    }

    #[test]
    fn refuses_a_visitor_without_a_crm_guid_or_with_an_oversized_value() {
        let profile = profile(json!({"context_variables": {"tier": {"claim": "tier"}}}));
        let missing = visitor(json!({"sub": "bob"}));
        assert!(matches!(
            d365_claims(&profile, &missing, 1),
            Err(ClaimsError::Mapping(MappingError::MissingClaim { .. }))
        ));
        for bad in [json!("bob"), json!(42), json!("3f2504e0-4f89-41d3-9a0c-0305e82c330")] {
            let who = visitor(json!({"sub": "bob", "crm_contact_id": bad}));
            assert!(
                matches!(
                    d365_claims(&profile, &who, 1),
                    Err(ClaimsError::NotACrmContactId { .. })
                ),
                "{bad}"
            );
        }
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        let oversized = visitor(json!({"sub": "a", "crm_contact_id": GUID, "tier": long}));
        assert!(matches!(
            d365_claims(&profile, &oversized, 1),
            Err(ClaimsError::InvalidIdentifier {
                field: "lwicontexts",
                ..
            })
        ));
        let control = visitor(json!({"sub": "a", "crm_contact_id": GUID, "tier": "x".repeat(MAX_VALUE_CHARS)}));
        assert!(d365_claims(&profile, &control, 1).is_ok());
    }

    #[test]
    fn context_variables_are_checked_at_cold_start() {
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_CONTEXT_VARIABLES)
            .map(|i| (format!("v{i}"), json!({"claim": "sub"})))
            .collect();
        let over = profile(json!({ "context_variables": many.clone() }));
        assert_eq!(over.validate().unwrap_err().field, "context_variables");
        let mut hundred = many;
        hundred.remove("v0");
        assert_eq!(profile(json!({ "context_variables": hundred })).validate(), Ok(()));
        for bad in ["", "1st", "has space", "dash-ed", &"a".repeat(101)] {
            let bad_profile = profile(json!({ "context_variables": { bad: {"claim": "sub"} } }));
            assert!(bad_profile.validate().is_err(), "{bad}");
        }
        // A value that is not a claim rule (an object or a list as the variable) does not parse.
        let document = json!({"issuer": "x", "context_variables": {"tier": {"nested": {"a": 1}}}});
        assert!(serde_json::from_value::<D365ProfileConfig>(document).is_err());
        let json_valued = profile(json!({"context_variables": {"tier": {"claim": "tier", "convert": "json"}}}));
        assert_eq!(
            json_valued.validate().unwrap_err().field,
            "context_variables.tier.convert"
        );
        assert!(profile(json!({"token_lifetime_seconds": 3601})).validate().is_err());
        assert!(profile(json!({"token_lifetime_seconds": 3600})).validate().is_ok());
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let profile = profile(json!({"email": {"claim": "email"}, "context_variables": {"tier": {"claim": "tier"}}}));
        let alice = visitor(json!({"sub": "a", "crm_contact_id": GUID, "email": "alice@example.com",
            "tier": "gold", "given_name": "Alice"}));
        let printed = format!("{:?}", d365_claims(&profile, &alice, 1).unwrap());
        for secret in ["3f2504e0", "alice@example.com", "gold", "Alice"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(
            printed.contains("lwicontexts") && printed.contains("phone_number: None"),
            "{printed}"
        );
    }
}
