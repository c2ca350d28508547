//! Declarative claim mapping: from the claims of a verified login to the values a chat platform
//! accepts (strings, and numbers or protocol-typed values where the platform types them), with
//! masking of national ids.
//!
//! Each output value comes from one [`ClaimRule`]: which claim, how a non-string value becomes a
//! string (only by an explicit [`Convert`] rule), whether it is masked, and what happens when the
//! claim is missing or cannot be converted. Masking happens here, before any token is built, so
//! it applies to every platform.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::values::VerifiedClaims;

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
    /// The claim's name in the verified login: a top-level member, taken literally (no path
    /// syntax, so `signicat.national_id` is that one claim).
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
                OnProblem::Refuse => Err(MappingError::MissingClaim {
                    claim: self.claim.clone(),
                }),
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
        match self.mask {
            Some(Mask::NationalId) => match (mask_national_id(&text), self.if_unconvertible) {
                (Some(masked), _) => Ok(Some(masked)),
                // Not a national id: never passed on, masked or not.
                (None, OnProblem::Skip) => Ok(None),
                (None, OnProblem::Refuse) => Err(MappingError::NotA {
                    claim: self.claim.clone(),
                    expected: "a national id",
                }),
            },
            None => Ok(Some(text)),
        }
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

impl ClaimRule {
    /// Applies the rule for a numeric field (LivePerson's `balance`, `companySize`, `loginStatus`):
    /// a JSON number is taken as it is, whatever `convert` says; a string only with `convert:
    /// scalar` or `json` (API Gateway's authorizer passes every claim as a string), never under
    /// `strict`, so a wrongly typed claim is never quietly read as a number. `from_number` and
    /// `from_text` check the value (`None`: not `expected`, which follows `if_unconvertible`).
    pub fn apply_number<T>(
        &self,
        claims: &VerifiedClaims,
        expected: &'static str,
        from_number: impl FnOnce(&serde_json::Number) -> Option<T>,
        from_text: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, MappingError> {
        let Some(value) = claims.get(&self.claim) else {
            return match self.if_missing {
                OnProblem::Skip => Ok(None),
                OnProblem::Refuse => Err(MappingError::MissingClaim {
                    claim: self.claim.clone(),
                }),
            };
        };
        // A masked value is no longer the number it was: it can only be refused or skipped.
        let parsed = match (value, self.convert, self.mask) {
            (Value::Number(n), _, None) => from_number(n),
            (Value::String(s), Convert::Scalar | Convert::Json, None) => from_text(s),
            (Value::Number(_) | Value::String(_), _, Some(_)) => None,
            _ => {
                return match self.if_unconvertible {
                    OnProblem::Skip => Ok(None),
                    OnProblem::Refuse => Err(MappingError::NotANumber {
                        claim: self.claim.clone(),
                        json_type: json_type(value),
                    }),
                };
            }
        };
        match (parsed, self.if_unconvertible) {
            (Some(value), _) => Ok(Some(value)),
            (None, OnProblem::Skip) => Ok(None),
            (None, OnProblem::Refuse) => Err(MappingError::NotA {
                claim: self.claim.clone(),
                expected,
            }),
        }
    }

    /// Applies the rule for a claim whose JSON type is fixed by its protocol (OpenID's
    /// `email_verified`, `updated_at`, `address`): `typed` gives the value in that type, or `None`
    /// when it does not have it. Such a value is left out, never stringified and never a refusal
    /// (OIDC Core lets a provider omit a claim it cannot give), whatever `convert` and
    /// `if_unconvertible` say. A missing claim follows `if_missing`.
    pub fn apply_typed(
        &self,
        claims: &VerifiedClaims,
        typed: impl FnOnce(&Value) -> Option<Value>,
    ) -> Result<Option<Value>, MappingError> {
        match claims.get(&self.claim) {
            Some(value) => Ok(typed(value)),
            None => match self.if_missing {
                OnProblem::Skip => Ok(None),
                OnProblem::Refuse => Err(MappingError::MissingClaim {
                    claim: self.claim.clone(),
                }),
            },
        }
    }

    /// Applies the rule, then parses the string into a platform type (a number, a date...).
    /// An unparsable value counts as unconvertible and follows `if_unconvertible`.
    pub fn apply_as<T>(
        &self,
        claims: &VerifiedClaims,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, MappingError> {
        let Some(text) = self.apply(claims)? else {
            return Ok(None);
        };
        match (parse(&text), self.if_unconvertible) {
            (Some(value), _) => Ok(Some(value)),
            (None, OnProblem::Skip) => Ok(None),
            (None, OnProblem::Refuse) => Err(MappingError::NotA {
                claim: self.claim.clone(),
                expected,
            }),
        }
    }
}

/// The role a claim plays in the agent's chat view (Puzzel's `authMapping` `MapType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum MapType {
    /// Shown to the agent as a chat variable, labelled by its description.
    Variable,
    /// The chat's identity.
    ChatId,
    /// The name shown in the chat.
    NickName,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRole {
    pub map_type: MapType,
    #[serde(default)]
    pub description: Option<String>,
}

/// One claim of Puzzel's `authMapping`, spelled as Puzzel's chat configuration spells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuthMappingEntry {
    #[serde(rename = "MapType")]
    pub map_type: MapType,
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A claim's masking setting in the policy; `none` is the explicit opt-out of a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskSetting {
    NationalId,
    None,
}

/// Claims masked even when the configuration does not mention them: the names national ids
/// travel under. `nin` is Signicat's (eID and Wallet Hub), `signicat.national_id` its older
/// platform's (one literal claim name, dot included), `pid` ID-porten's, `nnin` BankID Norway's,
/// `national_id` the generic one. The one list: the README and docs/setup/signicat.md name these.
pub const DEFAULT_MASKED_CLAIMS: [&str; 5] = ["nin", "national_id", "signicat.national_id", "pid", "nnin"];

/// What applies to a verified login before any profile sees it: masking (so a masked value can
/// reach no token and no platform) and the roles claims play in the agent's view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimPolicy {
    /// Claim name (literal: `signicat.national_id` is one name, not a path) to masking rule, on
    /// top of [`DEFAULT_MASKED_CLAIMS`]; `none` opts a default out.
    #[serde(default)]
    pub masked_claims: std::collections::BTreeMap<String, MaskSetting>,
    /// Claim name to its role in the chat.
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, ClaimRole>,
}

/// One line of the agent's view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentVariable {
    pub claim: String,
    pub description: String,
    pub value: String,
}

/// What the agent sees: the chat id, the nickname and the labelled variables.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AgentView {
    pub chat_id: Option<String>,
    pub nickname: Option<String>,
    pub variables: Vec<AgentVariable>,
}

impl ClaimPolicy {
    /// At most one `ChatId` and one `NickName`; every `Variable` has a description.
    pub fn validate(&self) -> Result<(), String> {
        let count = |t| self.roles.values().filter(|r| r.map_type == t).count();
        if count(MapType::ChatId) > 1 || count(MapType::NickName) > 1 {
            return Err("at most one claim may be the ChatId and one the NickName".into());
        }
        if let Some((claim, _)) = self
            .roles
            .iter()
            .find(|(_, r)| r.map_type == MapType::Variable && r.description.as_deref().is_none_or(str::is_empty))
        {
            return Err(format!(
                "the Variable `{claim}` needs a description (the agent's label)"
            ));
        }
        Ok(())
    }

    fn mask_for(&self, claim: &str) -> Option<Mask> {
        match self.masked_claims.get(claim) {
            Some(MaskSetting::NationalId) => Some(Mask::NationalId),
            Some(MaskSetting::None) => None,
            None => DEFAULT_MASKED_CLAIMS.contains(&claim).then_some(Mask::NationalId),
        }
    }

    /// Masks the claims the policy names. A masked claim that is not a plausible national id
    /// (not a string or number, or not shaped like one: [`plausible_national_id`]) cannot be
    /// masked safely, so it is removed rather than passed on, with a log line naming the claim.
    pub fn apply(&self, mut claims: VerifiedClaims) -> VerifiedClaims {
        let map = claims.as_map_mut();
        let masked: Vec<String> = map
            .keys()
            .filter(|k| *k != "sub" && self.mask_for(k).is_some())
            .cloned()
            .collect();
        for claim in masked {
            let text = match map.get(&claim) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            match text.as_deref().and_then(mask_national_id) {
                Some(masked) => {
                    map.insert(claim, Value::String(masked));
                }
                None => {
                    map.remove(&claim);
                    tracing::warn!(claim = %claim, "national id dropped: its value is not shaped like a national id");
                }
            }
        }
        claims
    }

    /// Puzzel's `authMapping` from the roles, for a client whose userinfo carries login claims
    /// under output names (`carried`: output name, login claim). A role's claim appears under
    /// every output name that carries it; roles whose claim reaches the client under no name
    /// come back apart (sorted), so the operator sees what the agent would miss.
    pub fn auth_mapping(&self, carried: &[(&str, &str)]) -> (BTreeMap<String, AuthMappingEntry>, Vec<String>) {
        let mut mapping = BTreeMap::new();
        let mut unmapped = Vec::new();
        for (claim, role) in &self.roles {
            let outputs: Vec<&str> = carried
                .iter()
                .filter(|(_, login)| login == claim)
                .map(|(output, _)| *output)
                .collect();
            if outputs.is_empty() {
                unmapped.push(claim.clone());
            }
            for output in outputs {
                let description = role.description.clone().filter(|d| !d.is_empty());
                mapping.insert(
                    output.to_string(),
                    AuthMappingEntry {
                        map_type: role.map_type,
                        description,
                    },
                );
            }
        }
        (mapping, unmapped)
    }

    /// The agent's view of (already masked) claims, in claim-name order.
    pub fn agent_view(&self, claims: &VerifiedClaims) -> AgentView {
        let mut view = AgentView::default();
        for (claim, role) in &self.roles {
            let Some(value) = claims.get(claim).and_then(|v| convert(v, Convert::Json)) else {
                continue;
            };
            match role.map_type {
                MapType::ChatId => view.chat_id = Some(value),
                MapType::NickName => view.nickname = Some(value),
                MapType::Variable => view.variables.push(AgentVariable {
                    claim: claim.clone(),
                    description: role.description.clone().unwrap_or_default(),
                    value,
                }),
            }
        }
        view
    }
}

/// Why claims could not be mapped. Messages name claims, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the verified login has no `{claim}` claim, which this profile requires")]
    MissingClaim { claim: String },
    #[error("claim `{claim}` is a {json_type}, which the `{convert:?}` rule does not turn into a string")]
    Unconvertible {
        claim: String,
        json_type: &'static str,
        convert: Convert,
    },
    #[error("claim `{claim}` is not {expected}")]
    NotA { claim: String, expected: &'static str },
    #[error(
        "claim `{claim}` is a {json_type} where a number is expected (a numeric string only with `\"convert\": \"scalar\"`)"
    )]
    NotANumber { claim: String, json_type: &'static str },
}

/// The digits masking hides (the documented rule: the last 5 digits become `*`).
pub const MASKED_DIGITS: usize = 5;
/// The digits a national id has, across the countries we serve: Finland 9 (plus its check
/// character, a digit or a letter), Denmark and Sweden 10, Norway 11, Sweden 12; 6 to 14 leaves
/// room for others and for masking never to reveal more than 9.
pub const NATIONAL_ID_DIGITS: std::ops::RangeInclusive<usize> = 6..=14;
/// Separators national ids are written with (`010190-1234`, `900101+1234`, `011299 54321`,
/// `85.07.30-033.28`, `736028/5163`).
const NATIONAL_ID_SEPARATORS: [char; 5] = ['-', '+', ' ', '.', '/'];

/// Whether `value` can be a national id: ASCII only; 6 to 14 digits (a `*` counts as an already
/// masked digit); at most 2 capital letters (Finland's century sign and check character); at
/// most 4 separators from `- + space . /`, never first, last or two in a row; it starts with a
/// digit. Anything else (500 digits, Arabic-Indic or fullwidth digits, control characters, a
/// negative or exponent number) is no national id we could mask safely.
pub fn plausible_national_id(value: &str) -> bool {
    let is_digit = |c: char| c.is_ascii_digit() || c == '*';
    let is_separator = |c: char| NATIONAL_ID_SEPARATORS.contains(&c);
    let (mut digits, mut letters, mut separators) = (0usize, 0usize, 0usize);
    let mut previous_separator = false;
    for c in value.chars() {
        match c {
            c if is_digit(c) => digits += 1,
            'A'..='Z' => letters += 1,
            c if is_separator(c) && !previous_separator => separators += 1,
            _ => return false,
        }
        previous_separator = is_separator(c);
    }
    NATIONAL_ID_DIGITS.contains(&digits)
        && letters <= 2
        && separators <= 4
        && value.starts_with(is_digit)
        && !value.ends_with(is_separator)
}

/// Masks a national id: the last 5 digits become `*`, other characters stay (so `010190-12345`
/// becomes `010190-*****`). `None` when the value is not a plausible national id
/// ([`plausible_national_id`]): it must then not travel at all, so masking never reveals more
/// than the digits before the last five, at most 9. Idempotent: a `*` counts as an already
/// masked digit, so masking twice changes nothing.
pub fn mask_national_id(value: &str) -> Option<String> {
    if !plausible_national_id(value) {
        return None;
    }
    let mut to_mask = MASKED_DIGITS;
    let mut masked: Vec<char> = value.chars().collect();
    for c in masked.iter_mut().rev() {
        if to_mask == 0 {
            break;
        }
        if c.is_ascii_digit() || *c == '*' {
            *c = '*';
            to_mask -= 1;
        }
    }
    Some(masked.into_iter().collect())
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
            Err(MappingError::Unconvertible {
                claim: "age".into(),
                json_type: "number",
                convert: Convert::Strict
            })
        );
    }

    #[test]
    fn scalar_rule_spells_numbers_and_booleans() {
        let c = claims(json!({"sub": "a", "age": 41, "email_verified": true, "ratio": 0.5}));
        assert_eq!(
            rule(json!({"claim": "age", "convert": "scalar"})).apply(&c),
            Ok(Some("41".into()))
        );
        assert_eq!(
            rule(json!({"claim": "email_verified", "convert": "scalar"})).apply(&c),
            Ok(Some("true".into()))
        );
        assert_eq!(
            rule(json!({"claim": "ratio", "convert": "scalar"})).apply(&c),
            Ok(Some("0.5".into()))
        );
    }

    #[test]
    fn json_rule_serializes_objects_and_skip_rule_skips() {
        let c = claims(json!({"sub": "a", "address": {"country": "NO"}}));
        assert_eq!(
            rule(json!({"claim": "address", "convert": "json"})).apply(&c),
            Ok(Some(r#"{"country":"NO"}"#.into()))
        );
        assert_eq!(
            rule(json!({"claim": "address", "if_unconvertible": "skip"})).apply(&c),
            Ok(None)
        );
    }

    #[test]
    fn missing_claim_is_skipped_or_refused_as_configured() {
        let c = claims(json!({"sub": "a"}));
        assert_eq!(rule(json!({"claim": "phone_number"})).apply(&c), Ok(None));
        assert_eq!(
            rule(json!({"claim": "phone_number", "if_missing": "refuse"})).apply(&c),
            Err(MappingError::MissingClaim {
                claim: "phone_number".into()
            })
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
    fn policy_masks_national_ids_by_default_and_on_request() {
        let policy: ClaimPolicy =
            serde_json::from_value(json!({"masked_claims": {"ssn": "national_id", "national_id": "none"}})).unwrap();
        let masked = policy.apply(claims(json!({
            "sub": "12345678901", "nin": "12345678901", "ssn": 123456789, "national_id": "98765432109",
            "address": {"nin": "x"}, "given_name": "Alice"
        })));
        assert_eq!(masked.get("nin"), Some(&json!("123456*****")));
        assert_eq!(masked.get("ssn"), Some(&json!("1234*****")));
        // Explicitly opted out; sub is the identity and is never rewritten.
        assert_eq!(masked.get("national_id"), Some(&json!("98765432109")));
        assert_eq!(masked.subject(), "12345678901");
        assert_eq!(masked.get("given_name"), Some(&json!("Alice")));
        let objects = ClaimPolicy::default().apply(claims(json!({"sub": "a", "nin": {"value": "12345678901"}})));
        assert_eq!(
            objects.get("nin"),
            None,
            "a masked claim that cannot be masked is dropped"
        );
    }

    /// National ids as providers send them (Norway 11 digits, with a separator, as a JSON number,
    /// Sweden 12, Finland with a letter) and their masked forms.
    const NATIONAL_ID_SHAPES: [(&str, &str); 5] = [
        (r#""01129954321""#, "011299*****"),
        (r#""010190-12345""#, "010190-*****"),
        ("12345678901", "123456*****"),
        (r#""199002171234""#, "1990021*****"),
        (r#""131052-308T""#, "1310**-***T"),
    ];

    #[test]
    fn every_default_national_id_name_is_masked_whatever_the_shape() {
        for name in DEFAULT_MASKED_CLAIMS {
            for (raw, masked) in NATIONAL_ID_SHAPES {
                let value: Value = serde_json::from_str(raw).unwrap();
                let login = claims(json!({"sub": "visitor-1", name: value, "given_name": "Alice"}));
                let out = ClaimPolicy::default().apply(login);
                assert_eq!(out.get(name), Some(&json!(masked)), "{name} = {raw}");
                let unquoted = raw.trim_matches('"');
                assert!(
                    !serde_json::to_string(out.as_map()).unwrap().contains(unquoted),
                    "{name} = {raw} left unmasked"
                );
                assert_eq!(
                    (out.subject(), out.get("given_name")),
                    ("visitor-1", Some(&json!("Alice"))),
                    "{name}: the rest untouched"
                );
                // A profile's rule reads the claim by its literal name and gets the masked form.
                assert_eq!(
                    ClaimRule::from_claim(name).apply(&out),
                    Ok(Some(masked.to_string())),
                    "{name}"
                );
            }
            // A value that cannot be masked digit by digit is dropped, not passed on.
            for unmaskable in [
                json!({"value": "01129954321"}),
                json!(["01129954321"]),
                json!(true),
                json!(null),
            ] {
                let out = ClaimPolicy::default().apply(claims(json!({"sub": "visitor-1", name: unmaskable})));
                assert_eq!(out.get(name), None, "{name} = {unmaskable}");
            }
        }
    }

    #[test]
    fn each_default_name_can_be_opted_out_by_its_literal_name_alone() {
        for name in DEFAULT_MASKED_CLAIMS {
            let policy: ClaimPolicy = serde_json::from_value(json!({"masked_claims": {name: "none"}})).unwrap();
            let others: Vec<&str> = DEFAULT_MASKED_CLAIMS.into_iter().filter(|n| *n != name).collect();
            let mut login = serde_json::Map::new();
            login.insert("sub".into(), json!("visitor-1"));
            for claim in DEFAULT_MASKED_CLAIMS {
                login.insert(claim.into(), json!("01129954321"));
            }
            let out = policy.apply(claims(Value::Object(login)));
            assert_eq!(out.get(name), Some(&json!("01129954321")), "{name} opted out");
            for other in others {
                assert_eq!(
                    out.get(other),
                    Some(&json!("011299*****")),
                    "{other} stays masked when {name} is opted out"
                );
            }
        }
    }

    #[test]
    fn a_dotted_claim_name_is_one_literal_name_never_a_path() {
        // Signicat's older platform sends a top-level claim named `signicat.national_id`.
        let flat = ClaimPolicy::default().apply(claims(json!({"sub": "a", "signicat.national_id": "01129954321"})));
        assert_eq!(flat.get("signicat.national_id"), Some(&json!("011299*****")));
        // An object `signicat` with a member `national_id` is another claim: a rule naming
        // `signicat.national_id` does not reach into it.
        let nested = claims(json!({"sub": "a", "signicat": {"national_id": "01129954321"}}));
        assert_eq!(ClaimRule::from_claim("signicat.national_id").apply(&nested), Ok(None));
        // The masking configuration takes dotted names literally too.
        let policy: ClaimPolicy =
            serde_json::from_value(json!({"masked_claims": {"acme.customer_ssn": "national_id"}})).unwrap();
        let out = policy.apply(claims(
            json!({"sub": "a", "acme.customer_ssn": "01129954321", "acme": {"customer_ssn": "x"}}),
        ));
        assert_eq!(out.get("acme.customer_ssn"), Some(&json!("011299*****")));
        assert_eq!(out.get("acme"), Some(&json!({"customer_ssn": "x"})));
    }

    #[test]
    fn agent_view_follows_the_roles() {
        let policy: ClaimPolicy = serde_json::from_value(json!({"roles": {
            "sub": {"map_type": "ChatId"},
            "name": {"map_type": "NickName"},
            "nin": {"map_type": "Variable", "description": "National id"},
            "birthdate": {"map_type": "Variable", "description": "Born"}
        }}))
        .unwrap();
        policy.validate().unwrap();
        let view =
            policy.agent_view(&policy.apply(claims(json!({"sub": "a", "name": "Alice N", "nin": "12345678901"}))));
        assert_eq!(view.chat_id.as_deref(), Some("a"));
        assert_eq!(view.nickname.as_deref(), Some("Alice N"));
        assert_eq!(
            view.variables,
            vec![AgentVariable {
                claim: "nin".into(),
                description: "National id".into(),
                value: "123456*****".into()
            }]
        );
    }

    #[test]
    fn auth_mapping_names_the_claims_as_the_client_receives_them() {
        let policy: ClaimPolicy = serde_json::from_value(json!({"roles": {
            "sub": {"map_type": "ChatId", "description": "Customer id"},
            "name": {"map_type": "NickName"},
            "nin": {"map_type": "Variable", "description": "National id"},
            "phone_number": {"map_type": "Variable", "description": "Phone"}
        }}))
        .unwrap();
        // The client's userinfo: `sub` from `sub`, `name` from `name`, `ssn` from `nin`; no phone.
        let (mapping, unmapped) =
            policy.auth_mapping(&[("sub", "sub"), ("name", "name"), ("ssn", "nin"), ("email", "email")]);
        assert_eq!(
            serde_json::to_value(&mapping).unwrap(),
            json!({
                "sub": {"MapType": "ChatId", "Description": "Customer id"},
                "name": {"MapType": "NickName"},
                "ssn": {"MapType": "Variable", "Description": "National id"}
            })
        );
        assert_eq!(unmapped, ["phone_number"]);
        let (empty, none) = ClaimPolicy::default().auth_mapping(&[("sub", "sub")]);
        assert!(empty.is_empty() && none.is_empty());
    }

    #[test]
    fn policy_validation_names_the_problem() {
        let two_ids: ClaimPolicy =
            serde_json::from_value(json!({"roles": {"a": {"map_type": "ChatId"}, "b": {"map_type": "ChatId"}}}))
                .unwrap();
        assert!(two_ids.validate().is_err());
        let unlabelled: ClaimPolicy =
            serde_json::from_value(json!({"roles": {"a": {"map_type": "Variable"}}})).unwrap();
        assert!(unlabelled.validate().unwrap_err().contains("`a`"));
    }

    #[test]
    fn typed_rules_parse_or_follow_the_rule() {
        let c = claims(json!({"sub": "a", "balance": "12.5", "size": "many"}));
        let number = |s: &str| s.parse::<f64>().ok();
        assert_eq!(
            rule(json!({"claim": "balance"})).apply_as(&c, "a number", number),
            Ok(Some(12.5))
        );
        assert_eq!(
            rule(json!({"claim": "size"})).apply_as(&c, "a number", number),
            Err(MappingError::NotA {
                claim: "size".into(),
                expected: "a number"
            })
        );
        assert_eq!(
            rule(json!({"claim": "size", "if_unconvertible": "skip"})).apply_as(&c, "a number", number),
            Ok(None)
        );
    }

    #[test]
    fn number_rule_takes_json_numbers_as_they_are_and_strings_only_with_scalar() {
        let c = claims(json!({"sub": "a", "balance": -400.99, "text": "12.5", "flag": true, "nin": 12345678901u64}));
        let as_f64 = |n: &serde_json::Number| n.as_f64();
        let parse = |s: &str| s.parse::<f64>().ok();
        let number = |r: Value| rule(r).apply_number(&c, "a number", as_f64, parse);
        assert_eq!(
            number(json!({"claim": "balance"})),
            Ok(Some(-400.99)),
            "no conversion option needed"
        );
        assert_eq!(
            number(json!({"claim": "balance", "convert": "scalar"})),
            Ok(Some(-400.99))
        );
        assert_eq!(
            number(json!({"claim": "text"})),
            Err(MappingError::NotANumber {
                claim: "text".into(),
                json_type: "string"
            })
        );
        assert_eq!(number(json!({"claim": "text", "convert": "scalar"})), Ok(Some(12.5)));
        assert_eq!(
            number(json!({"claim": "flag", "convert": "scalar"})),
            Err(MappingError::NotANumber {
                claim: "flag".into(),
                json_type: "boolean"
            })
        );
        assert_eq!(number(json!({"claim": "flag", "if_unconvertible": "skip"})), Ok(None));
        assert_eq!(number(json!({"claim": "text", "if_unconvertible": "skip"})), Ok(None));
        assert_eq!(
            number(json!({"claim": "nin", "mask": "national_id"})),
            Err(MappingError::NotA {
                claim: "nin".into(),
                expected: "a number"
            })
        );
        assert_eq!(number(json!({"claim": "missing"})), Ok(None));
        assert_eq!(
            number(json!({"claim": "missing", "if_missing": "refuse"})),
            Err(MappingError::MissingClaim {
                claim: "missing".into()
            })
        );
        let whole =
            rule(json!({"claim": "balance"}))
                .apply_number(&c, "a whole number", serde_json::Number::as_u64, |s| s.parse().ok());
        assert_eq!(
            whole,
            Err(MappingError::NotA {
                claim: "balance".into(),
                expected: "a whole number"
            })
        );
    }

    #[test]
    fn typed_rule_leaves_wrong_types_out_and_follows_if_missing() {
        let c = claims(json!({"sub": "a", "ok": true, "wrong": "yes"}));
        let boolean = |v: &Value| v.as_bool().map(Value::Bool);
        assert_eq!(
            rule(json!({"claim": "ok"})).apply_typed(&c, boolean),
            Ok(Some(json!(true)))
        );
        assert_eq!(
            rule(json!({"claim": "wrong", "if_unconvertible": "refuse"})).apply_typed(&c, boolean),
            Ok(None)
        );
        assert_eq!(rule(json!({"claim": "none"})).apply_typed(&c, boolean), Ok(None));
        assert_eq!(
            rule(json!({"claim": "none", "if_missing": "refuse"})).apply_typed(&c, boolean),
            Err(MappingError::MissingClaim { claim: "none".into() })
        );
    }

    #[test]
    fn national_id_masking_edge_cases() {
        let mask = |v: &str| mask_national_id(v);
        assert_eq!(mask("12345678901").as_deref(), Some("123456*****"));
        assert_eq!(mask("010190-12345").as_deref(), Some("010190-*****"));
        assert_eq!(mask("19900101-1234").as_deref(), Some("1990010*-****"));
        // Not national ids: too few digits, no digits, empty, non-ASCII digits: never masked, dropped.
        for value in ["12345", "ABCDEF", "", "١٢٣٤٥٦٧", "１２３４５６７８９０１"] {
            assert_eq!(mask(value), None, "{value}");
        }
        // Masking twice is masking once.
        for value in [
            "12345678901",
            "010190-12345",
            "1*3*5*7*9*1",
            "131052-308T",
            "900101+1234",
        ] {
            let once = mask(value).unwrap();
            assert_eq!(mask(&once).as_ref(), Some(&once), "{value}");
        }
    }

    /// Real shapes that must pass, masked: Norway 11, Sweden 12 and 10 (with `-` and `+`),
    /// Denmark 10, Finland with every century sign and a letter or digit check character.
    fn valid_national_ids() -> Vec<(String, String)> {
        let mut ids: Vec<(String, String)> = [
            ("01129954321", "011299*****"),
            ("011299 54321", "011299 *****"),
            ("199001011234", "1990010*****"),
            ("19900101-1234", "1990010*-****"),
            ("9001011234", "90010*****"),
            ("900101-1234", "90010*-****"),
            ("900101+1234", "90010*+****"),
            ("0101901234", "01019*****"),
            ("010190-1234", "01019*-****"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        for century in ['+', '-', 'A', 'B', 'C', 'D', 'E', 'F', 'U', 'V', 'W', 'X', 'Y'] {
            for check in ['T', '7'] {
                let id = format!("131052{century}308{check}");
                let masked = match check {
                    'T' => format!("1310**{century}***T"),
                    _ => format!("13105*{century}****"),
                };
                ids.push((id, masked));
            }
        }
        ids
    }

    /// Hostile values by class: every length 0..600 of digits, non-ASCII digits (Arabic-Indic,
    /// Extended Arabic-Indic, Devanagari, fullwidth), control characters, letters beyond
    /// Finland's two, odd separators, numbers that are not ids.
    fn hostile_national_ids() -> Vec<Value> {
        let mut values: Vec<Value> = Vec::new();
        for len in (0..6).chain(15..600) {
            values.push(json!("7".repeat(len)));
            values.push(json!(format!("010190-{}", "3".repeat(len.saturating_sub(6)))));
        }
        for zero in ['\u{0660}', '\u{06F0}', '\u{0966}', '\u{FF10}', '\u{1D7CE}'] {
            let digits: String = (0..11).map(|i| char::from_u32(zero as u32 + i % 10).unwrap()).collect();
            values.push(json!(digits));
            values.push(json!(format!(
                "01129{}",
                &digits[..digits.char_indices().nth(6).unwrap().0]
            )));
        }
        for bad in [
            '\r', '\n', '\0', '\t', '\u{7F}', '\u{85}', '\u{202E}', '\u{2066}', '\u{200B}', '\u{FEFF}', '\u{00A0}',
            '_', ',', '#',
        ] {
            values.push(json!(format!("011299{bad}54321")));
            values.push(json!(format!("01129954321{bad}")));
            values.push(json!(format!("{bad}01129954321")));
        }
        for letters in ["ABC", "abc", "Æ", "é"] {
            values.push(json!(format!("01129954321{letters}")));
        }
        values.push(json!("ABCDEFG1234567"));
        values.push(json!("A01129954321"));
        values.push(json!("011299-+54321"));
        values.push(json!("0-1-1-2-9-9-54321"));
        values.push(json!("01129954321-"));
        for number in [
            json!(-1129954321i64),
            json!(1.5e300),
            json!(12345),
            json!(1.0),
            json!(u64::MAX),
            json!(i64::MIN),
        ] {
            values.push(number);
        }
        values
    }

    #[test]
    fn valid_national_ids_of_every_country_are_masked_under_every_name() {
        for name in DEFAULT_MASKED_CLAIMS {
            for (id, masked) in valid_national_ids() {
                assert!(plausible_national_id(&id), "{id}");
                let out = ClaimPolicy::default().apply(claims(json!({"sub": "v", name: id, "given_name": "Åse"})));
                assert_eq!(out.get(name), Some(&json!(masked)), "{name} = {id}");
                assert_eq!(out.get("given_name"), Some(&json!("Åse")));
            }
        }
    }

    #[test]
    fn a_value_that_is_no_national_id_never_travels_masked_or_not() {
        let hostile = hostile_national_ids();
        assert!(hostile.len() > 1000, "{}", hostile.len());
        for name in DEFAULT_MASKED_CLAIMS.into_iter().chain(["ssn"]) {
            let policy: ClaimPolicy = serde_json::from_value(json!({"masked_claims": {"ssn": "national_id"}})).unwrap();
            for value in &hostile {
                let out = policy.apply(claims(json!({"sub": "v", name: value, "given_name": "Ola"})));
                assert_eq!(out.get(name), None, "{name} = {value}");
                assert_eq!(out.get("given_name"), Some(&json!("Ola")), "control claim kept");
                assert_eq!(out.subject(), "v");
                // A profile's own mask rule refuses it, or skips it when told to.
                let raw = claims(json!({"sub": "v", name: value}));
                let rule_refuse = rule(json!({"claim": name, "mask": "national_id", "convert": "scalar"}));
                let rule_skip = rule(
                    json!({"claim": name, "mask": "national_id", "convert": "scalar", "if_unconvertible": "skip"}),
                );
                match raw.get(name) {
                    Some(_) => assert!(rule_refuse.apply(&raw).is_err(), "{name} = {value}"),
                    None => assert!(
                        value.as_str().is_some_and(crate::values::hygiene::has_forbidden_char),
                        "{name} = {value}: only control characters drop it earlier"
                    ),
                }
                assert_eq!(rule_skip.apply(&raw), Ok(None), "{name} = {value}");
            }
        }
    }

    #[test]
    fn masking_reveals_at_most_the_digits_before_the_last_five() {
        let mut inputs: Vec<String> = valid_national_ids().into_iter().map(|(id, _)| id).collect();
        for len in 0..40 {
            inputs.push("8".repeat(len));
            inputs.push(format!("{}-{}", "1".repeat(len / 2), "2".repeat(len - len / 2)));
            inputs.push(format!("{}AB", "9".repeat(len)));
        }
        for input in inputs {
            let digits = input.chars().filter(|c| c.is_ascii_digit()).count();
            match mask_national_id(&input) {
                Some(masked) => {
                    assert!(NATIONAL_ID_DIGITS.contains(&digits), "{input}");
                    let revealed = masked.chars().filter(char::is_ascii_digit).count();
                    assert_eq!(revealed, digits - MASKED_DIGITS, "{input} -> {masked}");
                    assert_eq!(masked.chars().count(), input.chars().count());
                }
                None => assert!(
                    !NATIONAL_ID_DIGITS.contains(&digits) || input.starts_with('-'),
                    "{input}"
                ),
            }
        }
    }

    #[test]
    fn the_drop_log_names_the_claim_never_the_value() {
        let ((), logs) = crate::logging::capture_logs(|| {
            let out = ClaimPolicy::default().apply(claims(
                json!({"sub": "v", "nin": "4".repeat(500), "pid": "01129954321"}),
            ));
            assert_eq!((out.get("nin"), out.get("pid")), (None, Some(&json!("011299*****"))));
        });
        assert_eq!(logs.lines().count(), 1, "{logs}");
        assert!(logs.contains(r#""claim":"nin""#) && logs.contains("WARN"), "{logs}");
        assert!(!logs.contains("4444") && !logs.contains("011299"), "{logs}");
    }
}
