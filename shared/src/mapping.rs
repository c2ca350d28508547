//! Declarative claim mapping: from the claims of a verified login to the string values a chat
//! platform accepts, with masking of national ids.
//!
//! Each output value comes from one [`ClaimRule`]: which claim, how a non-string value becomes a
//! string (only by an explicit [`Convert`] rule), whether it is masked, and what happens when the
//! claim is missing or cannot be converted. Masking happens here, before any token is built, so
//! it applies to every platform.

use serde::Deserialize;
use serde_json::Value;

use crate::identity::VerifiedClaims;

/// How a claim value becomes a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convert {
    /// Only a JSON string is accepted.
    #[default]
    Strict,
    /// Strings as they are; numbers and booleans in their JSON spelling (`42`, `true`).
    Scalar,
    /// Any value as compact JSON (objects such as `address`); strings stay unquoted.
    Json,
}

/// A masking rule applied to the converted string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mask {
    /// The last 5 digits replaced by `*` (Puzzel's rule for national ids).
    NationalId,
}

/// What to do when a claim is absent, or present but not convertible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnProblem {
    /// Leave the output out.
    Skip,
    /// Refuse to mint (`insufficient_claims` / `unmappable_claim`).
    Refuse,
}

fn skip() -> OnProblem {
    OnProblem::Skip
}
fn refuse() -> OnProblem {
    OnProblem::Refuse
}

/// One output value taken from one claim.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// The claim's name in the verified login (top-level member).
    pub claim: String,
    #[serde(default)]
    pub convert: Convert,
    #[serde(default)]
    pub mask: Option<Mask>,
    /// Default: skip (a visitor without a phone number still gets a chat).
    #[serde(default = "skip")]
    pub if_missing: OnProblem,
    /// Default: refuse (a wrongly typed claim is a configuration problem worth seeing).
    #[serde(default = "refuse")]
    pub if_unconvertible: OnProblem,
}

impl ClaimRule {
    pub fn from_claim(claim: &str) -> Self {
        Self {
            claim: claim.to_string(),
            convert: Convert::Strict,
            mask: None,
            if_missing: OnProblem::Skip,
            if_unconvertible: OnProblem::Refuse,
        }
    }

    /// Applies the rule: `Ok(None)` means "skip this output".
    pub fn apply(&self, claims: &VerifiedClaims) -> Result<Option<String>, MappingError> {
        let Some(value) = claims.get(&self.claim) else {
            return match self.if_missing {
                OnProblem::Skip => Ok(None),
                OnProblem::Refuse => Err(MappingError::MissingClaim { claim: self.claim.clone() }),
            };
        };
        let Some(text) = convert(value, self.convert) else {
            return match self.if_unconvertible {
                OnProblem::Skip => Ok(None),
                OnProblem::Refuse => Err(MappingError::Unconvertible {
                    claim: self.claim.clone(),
                    json_type: json_type(value),
                    convert: self.convert,
                }),
            };
        };
        Ok(Some(match self.mask {
            Some(Mask::NationalId) => mask_national_id(&text),
            None => text,
        }))
    }
}

fn convert(value: &Value, rule: Convert) -> Option<String> {
    match (value, rule) {
        (Value::String(s), _) => Some(s.clone()),
        (Value::Number(n), Convert::Scalar | Convert::Json) => Some(n.to_string()),
        (Value::Bool(b), Convert::Scalar | Convert::Json) => Some(b.to_string()),
        (Value::Array(_) | Value::Object(_), Convert::Json) => serde_json::to_string(value).ok(),
        _ => None,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Why claims could not be mapped. Messages name claims, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the verified login has no `{claim}` claim, which this profile requires")]
    MissingClaim { claim: String },
    #[error("claim `{claim}` is a {json_type}, which the `{convert:?}` rule does not turn into a string")]
    Unconvertible { claim: String, json_type: &'static str, convert: Convert },
}

/// Masks a national id: the last 5 digits become `*`, other characters stay (so `010190-12345`
/// becomes `010190-*****`). A value with fewer than 6 digits would keep nothing worth hiding
/// behind, or is not a national id at all, so it is masked whole. Any Unicode decimal digit counts.
pub fn mask_national_id(value: &str) -> String {
    const MASKED_DIGITS: usize = 5;
    let digits = value.chars().filter(|c| c.is_numeric()).count();
    if digits <= MASKED_DIGITS {
        return "*".repeat(value.chars().count());
    }
    let mut to_mask = MASKED_DIGITS;
    let mut masked: Vec<char> = value.chars().collect();
    for c in masked.iter_mut().rev() {
        if to_mask == 0 {
            break;
        }
        if c.is_numeric() {
            *c = '*';
            to_mask -= 1;
        }
    }
    masked.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> VerifiedClaims {
        VerifiedClaims::from_json(value).unwrap()
    }

    fn rule(json: Value) -> ClaimRule {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn strict_rule_takes_strings_and_refuses_numbers_by_default() {
        let c = claims(json!({"sub": "a", "name": "Alice", "age": 41}));
        assert_eq!(rule(json!({"claim": "name"})).apply(&c), Ok(Some("Alice".into())));
        assert_eq!(
            rule(json!({"claim": "age"})).apply(&c),
            Err(MappingError::Unconvertible { claim: "age".into(), json_type: "number", convert: Convert::Strict })
        );
    }

    #[test]
    fn scalar_rule_spells_numbers_and_booleans() {
        let c = claims(json!({"sub": "a", "age": 41, "email_verified": true, "ratio": 0.5}));
        assert_eq!(rule(json!({"claim": "age", "convert": "scalar"})).apply(&c), Ok(Some("41".into())));
        assert_eq!(rule(json!({"claim": "email_verified", "convert": "scalar"})).apply(&c), Ok(Some("true".into())));
        assert_eq!(rule(json!({"claim": "ratio", "convert": "scalar"})).apply(&c), Ok(Some("0.5".into())));
    }

    #[test]
    fn json_rule_serializes_objects_and_skip_rule_skips() {
        let c = claims(json!({"sub": "a", "address": {"country": "NO"}}));
        assert_eq!(
            rule(json!({"claim": "address", "convert": "json"})).apply(&c),
            Ok(Some(r#"{"country":"NO"}"#.into()))
        );
        assert_eq!(rule(json!({"claim": "address", "if_unconvertible": "skip"})).apply(&c), Ok(None));
    }

    #[test]
    fn missing_claim_is_skipped_or_refused_as_configured() {
        let c = claims(json!({"sub": "a"}));
        assert_eq!(rule(json!({"claim": "phone_number"})).apply(&c), Ok(None));
        assert_eq!(
            rule(json!({"claim": "phone_number", "if_missing": "refuse"})).apply(&c),
            Err(MappingError::MissingClaim { claim: "phone_number".into() })
        );
    }

    #[test]
    fn null_is_never_converted() {
        let c = claims(json!({"sub": "a", "nickname": null}));
        assert!(rule(json!({"claim": "nickname", "convert": "json"})).apply(&c).is_err());
    }

    #[test]
    fn unknown_rule_fields_are_rejected() {
        assert!(serde_json::from_value::<ClaimRule>(json!({"claim": "x", "convrt": "json"})).is_err());
    }

    #[test]
    fn mask_rule_masks_before_anything_else_sees_the_value() {
        let c = claims(json!({"sub": "a", "nin": "12345678901"}));
        assert_eq!(
            rule(json!({"claim": "nin", "mask": "national_id"})).apply(&c),
            Ok(Some("123456*****".into()))
        );
    }

    #[test]
    fn national_id_masking_edge_cases() {
        assert_eq!(mask_national_id("12345678901"), "123456*****");
        assert_eq!(mask_national_id("010190-12345"), "010190-*****");
        assert_eq!(mask_national_id("19900101-1234"), "1990010*-****");
        // Short or digit-poor values are masked whole.
        assert_eq!(mask_national_id("12345"), "*****");
        assert_eq!(mask_national_id("ABCDEF"), "******");
        assert_eq!(mask_national_id(""), "");
        // Unicode digits count as digits (Arabic-Indic).
        assert_eq!(mask_national_id("١٢٣٤٥٦٧"), "١٢*****");
    }
}
