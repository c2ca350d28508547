//! Amazon Connect hosted widget ("Add security for your widget"): the profile section, the token
//! claims, how they are built from the visitor, and the key (the widget's security key, HS256).
//!
//! `attributes` must be string to string with keys of letters, digits, `-` and `_` (any other
//! value makes the chat fail to start), `customerId` 1-128 characters, `relatedContactId`
//! 1-256 characters, and `exp - iat` at most 600 seconds. The page's snippet calls
//! `callback(data.data)`, so the answer is `{"data": "<jwt>"}`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, ResponseShape, SettingError, TokenEndpoint, redacted_debug,
};
use crate::mapping::ClaimRule;
use crate::values::SecretName;
use crate::values::VerifiedClaims;

/// Connect refuses tokens over 6144 bytes of UTF-16; Amazon's guidance is about 3000 characters.
pub const CONNECT_MAX_TOKEN_CHARS: usize = 3000;

/// An Amazon Connect widget profile (`"platform": "amazon-connect"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectProfileConfig {
    /// The widget id (`sub` of the token).
    pub widget_id: String,
    /// The secret holding the widget's security key, as shown in the Connect admin site.
    pub security_key_secret: SecretName,
    /// `exp - iat`, at most 600.
    pub token_lifetime_seconds: Lifetime,
    /// Contact attributes, each from one claim.
    #[serde(default)]
    pub attributes: BTreeMap<AttrKey, ClaimRule>,
    #[serde(default)]
    pub customer_id: Option<ClaimRule>,
    #[serde(default)]
    pub related_contact_id: Option<ClaimRule>,
    /// Adds `segmentAttributes` `connect:CustomerAuthentication` = `AUTHENTICATED`
    /// (documented for StartChatContact; off unless asked for).
    #[serde(default)]
    pub mark_authenticated: bool,
}

impl Platform for ConnectProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if self.widget_id.trim().is_empty() || self.widget_id.len() > 256 {
            return Err(SettingError::new("widget_id", "must be the widget id from Connect"));
        }
        // The quick-start document ships with a marker, not a plausible-looking id.
        if self.widget_id.starts_with("REPLACE_WITH") {
            return Err(SettingError::new(
                "widget_id",
                "still the quick-start marker: write the widget id from the Connect admin site",
            ));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        KeyKind::Pasted(self.security_key_secret.clone())
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        Some(self)
    }
}

impl TokenEndpoint for ConnectProfileConfig {
    fn shape(&self) -> ResponseShape {
        ResponseShape::Data
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        _page: &crate::values::PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        connect_claims(self, identity, now).map(|claims| Box::new(claims) as Box<dyn PlatformClaims>)
    }
}

/// Builds the Connect claims from the verified identity through the profile's mapping.
pub fn connect_claims(
    profile: &ConnectProfileConfig,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<ConnectClaims, ClaimsError> {
    let mut claims = ConnectClaims::new(&profile.widget_id, now, profile.token_lifetime_seconds);
    for (name, rule) in &profile.attributes {
        if let Some(value) = rule.apply(identity)? {
            claims.attributes.insert(name.clone(), value);
        }
    }
    claims.customer_id = identifier::<128>(profile.customer_id.as_ref(), identity, "customerId")?;
    claims.related_contact_id = identifier::<256>(profile.related_contact_id.as_ref(), identity, "relatedContactId")?;
    if profile.mark_authenticated {
        claims.mark_authenticated();
    }
    Ok(claims)
}

fn identifier<const MAX: usize>(
    rule: Option<&ClaimRule>,
    identity: &VerifiedClaims,
    field: &'static str,
) -> Result<Option<BoundedId<MAX>>, ClaimsError> {
    let Some(value) = rule.map(|r| r.apply(identity)).transpose()?.flatten() else {
        return Ok(None);
    };
    BoundedId::new(value)
        .map(Some)
        .ok_or(ClaimsError::InvalidIdentifier { field, max: MAX })
}

impl PlatformClaims for ConnectClaims {
    fn expires_at(&self) -> u64 {
        self.exp
    }

    fn payload(&self) -> Result<Box<RawValue>, serde_json::Error> {
        super::payload_of(self)
    }

    fn check_signed(&self, token: &str) -> Result<(), ClaimsError> {
        if token.len() > CONNECT_MAX_TOKEN_CHARS {
            return Err(ClaimsError::TokenTooLarge {
                length: token.len(),
                largest_attributes: self.largest_attributes(),
            });
        }
        Ok(())
    }
}

/// A contact attribute name: `[A-Za-z0-9_-]{1,128}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AttrKey(String);

impl AttrKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AttrKey {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let valid = !value.is_empty()
            && value.len() <= 128
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(Self(value))
        } else {
            Err(format!(
                "`{value}` is not a Connect attribute name (letters, digits, `-`, `_`; 1-128)"
            ))
        }
    }
}

impl From<AttrKey> for String {
    fn from(key: AttrKey) -> String {
        key.0
    }
}

impl fmt::Display for AttrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bounded string (`customerId` 1..=128, `relatedContactId` 1..=256 characters).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BoundedId<const MAX: usize>(String);

impl<const MAX: usize> BoundedId<MAX> {
    pub fn new(value: String) -> Option<Self> {
        let chars = value.chars().count();
        (1..=MAX).contains(&chars).then_some(Self(value))
    }
}

impl<const MAX: usize> fmt::Debug for BoundedId<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedId([redacted])")
    }
}

pub type CustomerId = BoundedId<128>;
pub type RelatedContactId = BoundedId<256>;

/// The longest lifetime Connect accepts.
pub const MAX_LIFETIME_SECONDS: u64 = 600;

/// A token lifetime within Connect's limit.
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
                "{seconds} s is outside Amazon Connect's 1-{MAX_LIFETIME_SECONDS} s token lifetime"
            ))
        }
    }
}

/// `segmentAttributes` values as in StartChatContact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SegmentValue {
    ValueString(String),
    ValueMap(BTreeMap<String, SegmentValue>),
}

/// The claims of a Connect widget token. Field order is the serialized order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ConnectClaims {
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<AttrKey, String>,
    #[serde(rename = "customerId", skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    #[serde(rename = "relatedContactId", skip_serializing_if = "Option::is_none")]
    pub related_contact_id: Option<RelatedContactId>,
    #[serde(rename = "segmentAttributes", skip_serializing_if = "BTreeMap::is_empty")]
    pub segment_attributes: BTreeMap<String, SegmentValue>,
}

redacted_debug!(ConnectClaims { sub, attributes, customer_id, related_contact_id, segment_attributes; iat, exp });

impl ConnectClaims {
    pub fn new(widget_id: &str, now: u64, lifetime: Lifetime) -> Self {
        Self {
            sub: widget_id.to_string(),
            iat: now,
            exp: now + lifetime.seconds(),
            attributes: BTreeMap::new(),
            customer_id: None,
            related_contact_id: None,
            segment_attributes: BTreeMap::new(),
        }
    }

    /// Marks the contact as authenticated, as StartChatContact documents it
    /// (`connect:CustomerAuthentication` with `Status` `AUTHENTICATED`).
    pub fn mark_authenticated(&mut self) {
        let status = BTreeMap::from([("Status".to_string(), SegmentValue::ValueString("AUTHENTICATED".into()))]);
        self.segment_attributes
            .insert("connect:CustomerAuthentication".into(), SegmentValue::ValueMap(status));
    }

    /// The attributes that weigh most, by name, for the "too large" error.
    fn largest_attributes(&self) -> Vec<String> {
        let mut sizes: Vec<_> = self
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str().len() + v.len(), k.to_string()))
            .collect();
        sizes.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
        sizes.into_iter().take(3).map(|(_, name)| name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_key_accepts_only_letters_digits_dash_underscore() {
        assert!(AttrKey::try_from("customer_Name-1".to_string()).is_ok());
        for bad in ["", "a b", "a.b", "ø", "a$b", &"x".repeat(129)] {
            assert!(AttrKey::try_from(bad.to_string()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lifetime_is_capped_at_600_seconds() {
        assert!(Lifetime::try_from(600).is_ok());
        assert!(Lifetime::try_from(601).is_err());
        assert!(Lifetime::try_from(0).is_err());
    }

    #[test]
    fn claims_serialize_with_connect_names_and_omit_empty_parts() {
        let mut claims = ConnectClaims::new("widget-1", 1_000, Lifetime(500));
        assert_eq!(
            serde_json::to_string(&claims).unwrap(),
            r#"{"sub":"widget-1","iat":1000,"exp":1500}"#
        );
        claims.attributes.insert(AttrKey("firstName".into()), "Alice".into());
        claims.customer_id = CustomerId::new("c-1".into());
        claims.mark_authenticated();
        let json: serde_json::Value = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["attributes"]["firstName"], "Alice");
        assert_eq!(json["customerId"], "c-1");
        assert_eq!(
            json["segmentAttributes"]["connect:CustomerAuthentication"]["ValueMap"]["Status"]["ValueString"],
            "AUTHENTICATED"
        );
    }

    /// A sample verified visitor through a profile: attributes, ids and the authenticated mark.
    #[test]
    fn builds_claims_from_a_verified_visitor() {
        let profile: ConnectProfileConfig = serde_json::from_value(serde_json::json!({
            "widget_id": "widget-1", "security_key_secret": "connect-key", "token_lifetime_seconds": 500,
            "attributes": {"firstName": {"claim": "given_name"}}, "customer_id": {"claim": "sub"},
            "mark_authenticated": true}))
        .unwrap();
        let visitor = VerifiedClaims::from_json(serde_json::json!({"sub": "alice-7", "given_name": "Alice"})).unwrap();
        let claims = connect_claims(&profile, &visitor, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"sub":"widget-1","iat":1000,"exp":1500,"attributes":{"firstName":"Alice"},"customerId":"alice-7","segmentAttributes":{"connect:CustomerAuthentication":{"ValueMap":{"Status":{"ValueString":"AUTHENTICATED"}}}}}"#
        );
        assert_eq!(
            profile.key(),
            KeyKind::Pasted(SecretName::try_from("connect-key".to_string()).unwrap())
        );
        assert_eq!(profile.shape(), ResponseShape::Data);
        let long = VerifiedClaims::from_json(serde_json::json!({"sub": "s".repeat(129)})).unwrap();
        assert!(matches!(
            connect_claims(&profile, &long, 1),
            Err(ClaimsError::InvalidIdentifier {
                field: "customerId",
                max: 128
            })
        ));
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let mut claims = ConnectClaims::new("widget-1", 1_000, Lifetime(500));
        claims
            .attributes
            .insert(AttrKey("nationalId".into()), "01129954321".into());
        claims.customer_id = CustomerId::new("customer-secret-42".into());
        let printed = format!("{claims:?}");
        for value in ["01129954321", "customer-secret-42", "widget-1"] {
            assert!(!printed.contains(value), "{value} in {printed}");
        }
        for name in [
            "attributes",
            "nationalId",
            "customer_id",
            "related_contact_id",
            "iat: 1000",
        ] {
            assert!(printed.contains(name), "{name} missing from {printed}");
        }
    }

    #[test]
    fn bounded_ids_enforce_length() {
        assert!(CustomerId::new(String::new()).is_none());
        assert!(CustomerId::new("x".repeat(128)).is_some());
        assert!(CustomerId::new("x".repeat(129)).is_none());
        assert!(RelatedContactId::new("x".repeat(256)).is_some());
    }
}
