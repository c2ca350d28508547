//! Amazon Connect hosted widget token claims ("Add security for your widget").
//!
//! `attributes` must be string to string with keys of letters, digits, `-` and `_` (any other
//! value makes the chat fail to start), `customerId` 1-128 characters, `relatedContactId`
//! 1-256 characters, and `exp - iat` at most 600 seconds.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

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
            Err(format!("`{value}` is not a Connect attribute name (letters, digits, `-`, `_`; 1-128)"))
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BoundedId<const MAX: usize>(String);

impl<const MAX: usize> BoundedId<MAX> {
    pub fn new(value: String) -> Option<Self> {
        let chars = value.chars().count();
        (1..=MAX).contains(&chars).then_some(Self(value))
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
            Err(format!("{seconds} s is outside Amazon Connect's 1-{MAX_LIFETIME_SECONDS} s token lifetime"))
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
        self.segment_attributes.insert("connect:CustomerAuthentication".into(), SegmentValue::ValueMap(status));
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
        assert_eq!(serde_json::to_string(&claims).unwrap(), r#"{"sub":"widget-1","iat":1000,"exp":1500}"#);
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

    #[test]
    fn bounded_ids_enforce_length() {
        assert!(CustomerId::new(String::new()).is_none());
        assert!(CustomerId::new("x".repeat(128)).is_some());
        assert!(CustomerId::new("x".repeat(129)).is_none());
        assert!(RelatedContactId::new("x".repeat(256)).is_some());
    }
}
