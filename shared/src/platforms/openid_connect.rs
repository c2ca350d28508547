//! Platforms that are OpenID Connect clients of our OpenID provider (Puzzel Secure Chat, Genesys
//! Cloud authenticated messaging; `"platform": "openid-connect"`): the profile section naming the
//! claims a client receives, their typed schema, and how they are built. Signed with the
//! provider's rotating key; never served at `/token/{profile}`.
//!
//! The claims keep their OpenID types: OIDC Core 1.0 section 5.1 gives four of them a JSON type other than string, and a
//! relying party reads them in that type (`if (claims.email_verified)` is true for the string
//! `"false"`). The value keeps the type it had in the verified login; a value of another type is
//! left out rather than stringified.
//!
//! The one coercion: API Gateway's JWT authorizer passes every claim as a string, so the exact
//! strings `"true"`/`"false"` become booleans and a string of decimal digits in canonical form
//! becomes the `updated_at` number. Nothing else is guessed: `"True"`, `"1"`, `"yes"`, `" 5"`
//! are left out, and an `address` that is not a JSON object (a formatted string, the authorizer's
//! flattening) is never parsed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ClaimsError, KeyKind, Platform, ProviderClient, SettingError, TokenEndpoint, redacted_debug};
use crate::mapping::{ClaimRule, MappingError};
use crate::values::VerifiedClaims;

/// Claim names the provider sets itself; a profile may not map onto them.
pub const REGISTERED_ID_TOKEN_CLAIMS: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "azp",
];

/// Claims an OpenID Connect client (Puzzel, Genesys) receives in its id_token and from userinfo.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenIdClaimsProfileConfig {
    /// `sub` (default: the login's `sub`).
    #[serde(default = "super::subject_from_sub")]
    pub subject: ClaimRule,
    /// Output claim name to the rule that fills it (Puzzel's `authMapping` names these claims).
    #[serde(default)]
    pub claims: BTreeMap<String, ClaimRule>,
}

impl Platform for OpenIdClaimsProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if let Some(reserved) = self
            .claims
            .keys()
            .find(|c| REGISTERED_ID_TOKEN_CLAIMS.contains(&c.as_str()))
        {
            return Err(SettingError::new(
                format!("claims.{reserved}"),
                "is set by the provider itself",
            ));
        }
        if self
            .claims
            .keys()
            .any(|c| c.is_empty() || c.len() > 64 || c.chars().any(char::is_control))
        {
            return Err(SettingError::new(
                "claims",
                "claim names must be 1-64 printable characters",
            ));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        KeyKind::Provider
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        None
    }

    fn provider_client(&self) -> Option<&dyn ProviderClient> {
        Some(self)
    }
}

impl ProviderClient for OpenIdClaimsProfileConfig {
    fn claims(&self, identity: &VerifiedClaims, _now: u64) -> Result<Map<String, Value>, ClaimsError> {
        Ok(openid_claims(self, identity)?.into_map())
    }

    fn scoped(&self) -> bool {
        true
    }

    fn claim_names(&self) -> Vec<&str> {
        self.claims.keys().map(String::as_str).collect()
    }

    fn check_claims_without_scope(&self, names: &[String], profile: &str) -> Result<(), String> {
        match names.iter().find(|name| !self.claims.contains_key(*name)) {
            Some(unknown) => Err(format!("`{unknown}` is not a claim of profile `{profile}`")),
            None => Ok(()),
        }
    }

    fn carried_claims(&self) -> Option<Vec<(&str, &str)>> {
        let mut carried: Vec<(&str, &str)> = vec![("sub", self.subject.claim.as_str())];
        carried.extend(
            self.claims
                .iter()
                .map(|(output, rule)| (output.as_str(), rule.claim.as_str())),
        );
        Some(carried)
    }
}

/// What one OpenID client receives: `sub` and the profile's claims, each in its OIDC type.
#[derive(Clone, PartialEq, Serialize)]
pub struct OpenIdClaims {
    pub sub: String,
    #[serde(flatten)]
    pub claims: BTreeMap<String, OpenIdValue>,
}

redacted_debug!(OpenIdClaims { sub, claims });

impl OpenIdClaims {
    /// As the grant stores them.
    pub fn into_map(self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("sub".into(), Value::String(self.sub));
        map.extend(self.claims.into_iter().map(|(name, value)| (name, Value::from(value))));
        map
    }
}

/// A claim value in its OIDC Core 5.1 type.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OpenIdValue {
    Text(String),
    Boolean(bool),
    Seconds(u64),
    Address(Address),
}

impl std::fmt::Debug for OpenIdValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenIdValue([redacted])")
    }
}

impl OpenIdValue {
    /// The value [`ClaimType::typed`] gave, as its variant.
    fn from_typed(value: Value) -> Option<Self> {
        match value {
            Value::String(text) => Some(OpenIdValue::Text(text)),
            Value::Bool(b) => Some(OpenIdValue::Boolean(b)),
            Value::Number(n) => n.as_u64().map(OpenIdValue::Seconds),
            Value::Object(members) => {
                let member = |name: &str| members.get(name).and_then(Value::as_str).map(str::to_string);
                Some(OpenIdValue::Address(Address {
                    country: member("country"),
                    formatted: member("formatted"),
                    locality: member("locality"),
                    postal_code: member("postal_code"),
                    region: member("region"),
                    street_address: member("street_address"),
                }))
            }
            Value::Null | Value::Array(_) => None,
        }
    }
}

impl From<OpenIdValue> for Value {
    fn from(value: OpenIdValue) -> Value {
        match value {
            OpenIdValue::Text(text) => Value::String(text),
            OpenIdValue::Boolean(b) => Value::Bool(b),
            OpenIdValue::Seconds(n) => Value::from(n),
            OpenIdValue::Address(address) => Value::Object(address.members()),
        }
    }
}

/// `address` (OIDC Core 5.1.1): string members, those absent left out (names in JSON order).
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
}

redacted_debug!(Address {
    country,
    formatted,
    locality,
    postal_code,
    region,
    street_address
});

impl Address {
    /// The members present, as a JSON object (what `Serialize` writes).
    fn members(self) -> Map<String, Value> {
        let Address {
            country,
            formatted,
            locality,
            postal_code,
            region,
            street_address,
        } = self;
        [
            ("country", country),
            ("formatted", formatted),
            ("locality", locality),
            ("postal_code", postal_code),
            ("region", region),
            ("street_address", street_address),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_string(), Value::String(value?))))
        .collect()
    }
}

/// `sub` and the profile's claims for one client, from the (already masked) identity.
pub fn openid_claims(
    profile: &OpenIdClaimsProfileConfig,
    identity: &VerifiedClaims,
) -> Result<OpenIdClaims, MappingError> {
    let sub = profile
        .subject
        .apply(identity)?
        .ok_or_else(|| MappingError::MissingClaim {
            claim: profile.subject.claim.clone(),
        })?;
    let mut claims = BTreeMap::new();
    for (name, rule) in &profile.claims {
        // OIDC Core 5.1 types: a masked claim is a string whatever its name.
        let value = match ClaimType::of(name) {
            ClaimType::String => rule.apply(identity)?.map(OpenIdValue::Text),
            _ if rule.mask.is_some() => rule.apply(identity)?.map(OpenIdValue::Text),
            claim_type => rule
                .apply_typed(identity, |value| {
                    let typed = claim_type.typed(value);
                    if typed.is_none() {
                        tracing::warn!(claim = %name, "claim left out: not of its OpenID type");
                    }
                    typed
                })?
                .and_then(OpenIdValue::from_typed),
        };
        if let Some(value) = value {
            claims.insert(name.clone(), value);
        }
    }
    Ok(OpenIdClaims { sub, claims })
}

/// The JSON type OIDC Core 5.1 gives a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimType {
    /// A string (every claim 5.1 does not type otherwise, and any non-standard claim).
    String,
    /// `email_verified`, `phone_number_verified`.
    Boolean,
    /// `updated_at`: seconds since the epoch.
    Seconds,
    /// `address`: an object of string members (5.1.1).
    Address,
}

/// The members of an `address` (OIDC Core 5.1.1); all strings.
pub const ADDRESS_MEMBERS: [&str; 6] = [
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

impl ClaimType {
    /// The type of the output claim `name`.
    pub fn of(name: &str) -> Self {
        match name {
            "email_verified" | "phone_number_verified" => ClaimType::Boolean,
            "updated_at" => ClaimType::Seconds,
            "address" => ClaimType::Address,
            _ => ClaimType::String,
        }
    }

    /// `value` in this (non-string) type, or `None` when it does not have it. `String` claims
    /// go through the claim rule's own conversion instead, so this gives `None` for them.
    pub fn typed(self, value: &Value) -> Option<Value> {
        match (self, value) {
            (ClaimType::Boolean, Value::Bool(b)) => Some(Value::Bool(*b)),
            (ClaimType::Boolean, Value::String(s)) => match s.as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            (ClaimType::Seconds, Value::Number(n)) => n.as_u64().map(Value::from),
            (ClaimType::Seconds, Value::String(s)) => {
                s.parse::<u64>().ok().filter(|n| n.to_string() == *s).map(Value::from)
            }
            (ClaimType::Address, Value::Object(members)) => address(members),
            _ => None,
        }
    }
}

/// The standard members that are strings; unknown members and non-string values are dropped (a
/// client would misread them), and an address with none left is no address.
fn address(members: &Map<String, Value>) -> Option<Value> {
    let kept: Map<String, Value> = ADDRESS_MEMBERS
        .iter()
        .filter_map(|name| match members.get(*name) {
            Some(Value::String(s)) => Some(((*name).to_string(), Value::String(s.clone()))),
            _ => None,
        })
        .collect();
    (!kept.is_empty()).then_some(Value::Object(kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn standard_claims_have_their_oidc_types() {
        assert_eq!(ClaimType::of("email_verified"), ClaimType::Boolean);
        assert_eq!(ClaimType::of("phone_number_verified"), ClaimType::Boolean);
        assert_eq!(ClaimType::of("updated_at"), ClaimType::Seconds);
        assert_eq!(ClaimType::of("address"), ClaimType::Address);
        for name in [
            "name",
            "nin",
            "birthdate",
            "email",
            "locale",
            "zoneinfo",
            "Email_Verified",
        ] {
            assert_eq!(ClaimType::of(name), ClaimType::String, "{name}");
        }
    }

    #[test]
    fn booleans_stay_booleans_and_only_the_exact_strings_are_coerced() {
        let b = ClaimType::Boolean;
        assert_eq!(b.typed(&json!(true)), Some(json!(true)));
        assert_eq!(b.typed(&json!(false)), Some(json!(false)));
        assert_eq!(b.typed(&json!("true")), Some(json!(true)));
        assert_eq!(b.typed(&json!("false")), Some(json!(false)));
        for wrong in [
            json!("True"),
            json!("TRUE"),
            json!("1"),
            json!("yes"),
            json!(" true"),
            json!(""),
            json!(1),
            json!(0),
            json!(null),
            json!([true]),
            json!({"v": true}),
        ] {
            assert_eq!(b.typed(&wrong), None, "{wrong}");
        }
    }

    #[test]
    fn updated_at_is_a_number_of_seconds() {
        let t = ClaimType::Seconds;
        assert_eq!(t.typed(&json!(1_767_225_600u64)), Some(json!(1_767_225_600u64)));
        assert_eq!(t.typed(&json!("1767225600")), Some(json!(1_767_225_600u64)));
        assert_eq!(t.typed(&json!("0")), Some(json!(0)));
        for wrong in [
            json!(-5),
            json!(1.5),
            json!("01767225600"),
            json!("+17"),
            json!(" 17"),
            json!("1.7e9"),
            json!(""),
            json!(true),
            json!(null),
            json!({"t": 1}),
        ] {
            assert_eq!(t.typed(&wrong), None, "{wrong}");
        }
    }

    #[test]
    fn an_address_is_an_object_of_its_string_members() {
        let a = ClaimType::Address;
        let full = json!({"formatted": "Storgata 1\n0155 Oslo", "street_address": "Storgata 1", "locality": "Oslo",
                          "region": "Oslo", "postal_code": "0155", "country": "NO"});
        assert_eq!(a.typed(&full), Some(full.clone()));
        assert_eq!(
            a.typed(&json!({"locality": "Oslo", "postal_code": 155, "country": {"code": "NO"}, "nin": "01129954321"})),
            Some(json!({"locality": "Oslo"})),
            "non-string values and unknown members are dropped"
        );
        for wrong in [
            json!("Storgata 1, 0155 Oslo"),
            json!(r#"{"country":"NO"}"#),
            json!({}),
            json!({"planet": "Earth"}),
            json!(["Oslo"]),
            json!(null),
            json!(5),
        ] {
            assert_eq!(a.typed(&wrong), None, "{wrong}");
        }
    }

    /// A sample verified visitor through a Puzzel/Genesys profile: each claim in its OIDC type.
    #[test]
    fn builds_claims_from_a_verified_visitor() {
        let profile: OpenIdClaimsProfileConfig = serde_json::from_value(json!({"claims": {
            "name": {"claim": "name"}, "email_verified": {"claim": "email_verified"}, "updated_at": {"claim": "updated_at"},
            "address": {"claim": "address"}, "nin": {"claim": "nin", "mask": "national_id"}, "missing": {"claim": "absent"}}}))
        .unwrap();
        let visitor = VerifiedClaims::from_json(json!({"sub": "alice", "name": "Alice A", "email_verified": "true",
            "updated_at": "1767225600", "address": {"country": "NO", "planet": "Earth"}, "nin": "01129954321"}))
        .unwrap();
        let claims = openid_claims(&profile, &visitor).unwrap();
        assert_eq!(
            serde_json::to_string(&claims).unwrap(),
            r#"{"sub":"alice","address":{"country":"NO"},"email_verified":true,"name":"Alice A","nin":"011299*****","updated_at":1767225600}"#
        );
        assert_eq!(
            Value::Object(claims.into_map()),
            json!({"sub": "alice", "address": {"country": "NO"}, "email_verified": true,
            "name": "Alice A", "nin": "011299*****", "updated_at": 1_767_225_600u64})
        );
        assert_eq!(profile.key(), KeyKind::Provider);
        assert!(profile.token_endpoint().is_none());
        assert_eq!(profile.check_claims_without_scope(&["nin".into()], "p"), Ok(()));
        assert_eq!(
            profile.check_claims_without_scope(&["email".into()], "p"),
            Err("`email` is not a claim of profile `p`".into())
        );
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let claims = OpenIdClaims {
            sub: "alice-sub-1".into(),
            claims: BTreeMap::from([
                ("nin".to_string(), OpenIdValue::Text("01129954321".into())),
                (
                    "address".to_string(),
                    OpenIdValue::Address(Address {
                        locality: Some("Oslo".into()),
                        ..Default::default()
                    }),
                ),
            ]),
        };
        let printed = format!(
            "{claims:?} {:?}",
            Address {
                locality: Some("Oslo".into()),
                ..Default::default()
            }
        );
        for value in ["alice-sub-1", "01129954321", "Oslo"] {
            assert!(!printed.contains(value), "{value} in {printed}");
        }
        assert!(printed.contains("nin") && printed.contains("locality"), "{printed}");
    }

    #[test]
    fn string_claims_are_left_to_the_claim_rule() {
        assert_eq!(ClaimType::String.typed(&json!("x")), None);
    }
}
