//! OpenID Connect standard claims as our OpenID provider hands them to its clients (Puzzel,
//! Genesys): OIDC Core 1.0 section 5.1 gives four of them a JSON type other than string, and a
//! relying party reads them in that type (`if (claims.email_verified)` is true for the string
//! `"false"`). The value keeps the type it had in the verified login; a value of another type is
//! left out rather than stringified.
//!
//! The one coercion: API Gateway's JWT authorizer passes every claim as a string, so the exact
//! strings `"true"`/`"false"` become booleans and a string of decimal digits in canonical form
//! becomes the `updated_at` number. Nothing else is guessed: `"True"`, `"1"`, `"yes"`, `" 5"`
//! are left out, and an `address` that is not a JSON object (a formatted string, the authorizer's
//! flattening) is never parsed.

use serde_json::{Map, Value};

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
pub const ADDRESS_MEMBERS: [&str; 6] = ["formatted", "street_address", "locality", "region", "postal_code", "country"];

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
        for name in ["name", "nin", "birthdate", "email", "locale", "zoneinfo", "Email_Verified"] {
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
        for wrong in [json!("True"), json!("TRUE"), json!("1"), json!("yes"), json!(" true"), json!(""), json!(1), json!(0), json!(null), json!([true]), json!({"v": true})] {
            assert_eq!(b.typed(&wrong), None, "{wrong}");
        }
    }

    #[test]
    fn updated_at_is_a_number_of_seconds() {
        let t = ClaimType::Seconds;
        assert_eq!(t.typed(&json!(1_767_225_600u64)), Some(json!(1_767_225_600u64)));
        assert_eq!(t.typed(&json!("1767225600")), Some(json!(1_767_225_600u64)));
        assert_eq!(t.typed(&json!("0")), Some(json!(0)));
        for wrong in [json!(-5), json!(1.5), json!("01767225600"), json!("+17"), json!(" 17"), json!("1.7e9"), json!(""), json!(true), json!(null), json!({"t": 1})] {
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
        for wrong in [json!("Storgata 1, 0155 Oslo"), json!(r#"{"country":"NO"}"#), json!({}), json!({"planet": "Earth"}), json!(["Oslo"]), json!(null), json!(5)] {
            assert_eq!(a.typed(&wrong), None, "{wrong}");
        }
    }

    #[test]
    fn string_claims_are_left_to_the_claim_rule() {
        assert_eq!(ClaimType::String.typed(&json!("x")), None);
    }
}
