//! Claim hygiene: no control or invisible formatting character in any claim of a verified login.
//!
//! Applied once, where claims enter ([`super::VerifiedClaims::from_json`], which every identity
//! source goes through: the authorizer's claims, bearer tokens, the upstream login, sessions),
//! so nothing downstream (tokens, Connect attributes, sessions, our userinfo, logs) sees such a
//! character. A claim carrying one, in its value (recursively, object keys included) or in its
//! name, is dropped whole, never repaired: stripping would hand an agent a value the identity
//! provider never asserted (`Ola<RLO>evoN` shown as another name). `sub` is the identity itself,
//! so a bad `sub` refuses the login instead ([`super::valid_subject`]).
//!
//! The one exception is OIDC Core 5.1.1: `address.formatted` and `address.street_address` "MAY
//! contain multiple lines, separated by newlines", as `\r\n` or `\n`. There `\r\n` becomes `\n`
//! and `\n` stays (it only ever travels JSON-escaped); any other control character, `\t` and a
//! lone `\r` included, drops the address.

use serde_json::{Map, Value};

/// Whether `c` may not appear in a claim: C0 and C1 controls and DEL (`char::is_control`), bidi
/// marks, embeddings, overrides and isolates (they reorder what an agent reads), line and
/// paragraph separators (they end lines in logs and JavaScript), and invisible characters that
/// hide or smuggle text (zero-width space, word joiner and invisible operators, BOM, soft hyphen,
/// Hangul fillers, interlinear annotations, tag characters). ZWNJ and ZWJ (U+200C, U+200D) are
/// allowed: Persian and Indic spelling and emoji need them, and they move and hide nothing.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// Whether `text` carries a forbidden character.
pub fn has_forbidden_char(text: &str) -> bool {
    text.chars().any(is_forbidden_char)
}

/// The address members that may span lines (OIDC Core 5.1.1).
const MULTILINE_ADDRESS_MEMBERS: [&str; 2] = ["formatted", "street_address"];

/// A claim name shown in a log line: only when it is short and clean (the name comes from the
/// identity provider too; a long or dirty one is not repeated).
fn loggable(name: &str) -> Option<&str> {
    (name.chars().count() <= 64 && !has_forbidden_char(name)).then_some(name)
}

/// Drops every claim (other than `sub`, which the caller checks) whose name or value carries a
/// forbidden character, logging the claim's name, never its value; normalises the multi-line
/// address members. Returns the dropped names (tests; the fuzz target).
pub fn clean_claims(claims: &mut Map<String, Value>) -> Vec<String> {
    if let Some(Value::Object(address)) = claims.get_mut("address") {
        for member in MULTILINE_ADDRESS_MEMBERS {
            if let Some(Value::String(text)) = address.get_mut(member)
                && text.contains('\r')
            {
                *text = text.replace("\r\n", "\n");
            }
        }
    }
    let dirty: Vec<String> = claims
        .iter()
        .filter(|(name, value)| *name != "sub" && !clean_claim(name, value))
        .map(|(name, _)| name.clone())
        .collect();
    for name in &dirty {
        claims.remove(name);
        match loggable(name) {
            Some(claim) => tracing::warn!(
                claim,
                "claim dropped: it carries control or invisible formatting characters"
            ),
            None => tracing::warn!(
                "claim dropped: its name carries control or invisible formatting characters, or is too long to log"
            ),
        }
    }
    dirty
}

/// Whether one top-level claim is clean: its name, and every string and key inside its value
/// (the multi-line address members may hold `\n`). Iterative, so no nesting depth can exhaust
/// the stack.
fn clean_claim(name: &str, value: &Value) -> bool {
    if has_forbidden_char(name) {
        return false;
    }
    let mut pending = vec![value];
    if let ("address", Value::Object(members)) = (name, value) {
        pending.clear();
        for (key, member) in members {
            match member {
                Value::String(text) if MULTILINE_ADDRESS_MEMBERS.contains(&key.as_str()) => {
                    if text.chars().any(|c| c != '\n' && is_forbidden_char(c)) {
                        return false;
                    }
                }
                _ if has_forbidden_char(key) => return false,
                _ => pending.push(member),
            }
        }
    }
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) if has_forbidden_char(text) => return false,
            Value::Array(items) => pending.extend(items),
            Value::Object(members) => {
                if members.keys().any(|key| has_forbidden_char(key)) {
                    return false;
                }
                pending.extend(members.values());
            }
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::VerifiedClaims;
    use serde_json::json;

    /// Every forbidden class, by range: C0, DEL, C1, and each invisible or bidi block.
    fn forbidden_chars() -> Vec<char> {
        let ranges = [
            (0x00, 0x1F),
            (0x7F, 0x9F),
            (0xAD, 0xAD),
            (0x061C, 0x061C),
            (0x115F, 0x1160),
            (0x180E, 0x180E),
            (0x200B, 0x200B),
            (0x200E, 0x200F),
            (0x2028, 0x202E),
            (0x2060, 0x2064),
            (0x2066, 0x206F),
            (0x3164, 0x3164),
            (0xFEFF, 0xFEFF),
            (0xFFA0, 0xFFA0),
            (0xFFF9, 0xFFFB),
            (0xE0000, 0xE007F),
        ];
        ranges
            .iter()
            .flat_map(|(a, b)| (*a..=*b).filter_map(char::from_u32))
            .collect()
    }

    /// Values a claim legitimately holds: accents, other scripts, ZWNJ in Persian, an emoji
    /// family joined by ZWJ, symbols.
    const CLEAN: [&str; 8] = [
        "Ola Nordmann",
        "Åse Ødegård-Müller",
        "José Ñúñez",
        "محمد",
        "می‌خواهم",
        "👨‍👩‍👧",
        "Zoë O'Brien (née Łukasiewicz)",
        "a+b=c <x> & \"q\"",
    ];

    /// `bad` placed in every way a claim can carry it: whole value, start, middle, end, in an
    /// array, nested in an object, as an object key, repeated.
    fn carriers(bad: char) -> Vec<Value> {
        let s = |text: String| Value::String(text);
        vec![
            s(bad.to_string()),
            s(format!("{bad}Ola")),
            s(format!("Ola{bad}Nordmann")),
            s(format!("Nordmann{bad}")),
            s(format!("{bad}{bad}{bad}")),
            json!(["clean", format!("x{bad}y")]),
            json!({"a": {"b": [1, true, null, format!("{bad}")]}}),
            json!({format!("key{bad}"): "value"}),
            json!([[[[{"deep": format!("{bad}")}]]]]),
        ]
    }

    fn claims(map: Value) -> Option<VerifiedClaims> {
        VerifiedClaims::from_json(map)
    }

    #[test]
    fn every_forbidden_char_in_any_position_drops_the_claim_and_keeps_the_rest() {
        let chars = forbidden_chars();
        assert!(chars.len() > 200, "every class generated: {}", chars.len());
        for bad in chars {
            assert!(is_forbidden_char(bad), "U+{:04X}", bad as u32);
            for (i, carried) in carriers(bad).into_iter().enumerate() {
                let login =
                    claims(json!({"sub": "visitor-1", "name": carried, "given_name": "Ola", "nin": "01129954321"}))
                        .unwrap();
                assert_eq!(login.get("name"), None, "U+{:04X} carrier {i}", bad as u32);
                assert_eq!(login.get("given_name"), Some(&json!("Ola")), "control claim kept");
                assert_eq!(login.get("nin"), Some(&json!("01129954321")), "control claim kept");
                assert_eq!(login.subject(), "visitor-1");
                let text = serde_json::to_string(login.as_map()).unwrap();
                assert!(
                    !text.chars().any(is_forbidden_char),
                    "U+{:04X} carrier {i} left in {text:?}",
                    bad as u32
                );
            }
            // In a claim's name.
            let mut map = Map::new();
            map.insert("sub".into(), json!("visitor-1"));
            map.insert(format!("na{bad}me"), json!("Ola"));
            let login = claims(Value::Object(map)).unwrap();
            assert_eq!(login.as_map().len(), 1, "U+{:04X} in a claim name", bad as u32);
        }
    }

    #[test]
    fn a_subject_with_a_forbidden_char_refuses_the_login() {
        for bad in forbidden_chars() {
            for sub in [
                format!("{bad}"),
                format!("alice{bad}"),
                format!("{bad}alice"),
                format!("al{bad}ice"),
            ] {
                assert!(
                    claims(json!({"sub": sub, "name": "Ola"})).is_none(),
                    "U+{:04X}",
                    bad as u32
                );
            }
        }
        assert!(claims(json!({"sub": "alice", "name": "Ola"})).is_some(), "control");
    }

    #[test]
    fn clean_values_of_every_type_pass_unchanged() {
        for text in CLEAN {
            assert!(!has_forbidden_char(text), "{text}");
            let value = json!({"sub": text, "name": text, "list": [text, 1, 2.5, true, null], "obj": {text: {"k": [text]}}, "n": 12345678901u64});
            let login = claims(value.clone()).unwrap();
            assert_eq!(Value::Object(login.as_map().clone()), value, "{text}");
        }
        // Long clean values, 0..600 characters, stay.
        for len in (0..600).step_by(37) {
            let text: String = CLEAN.iter().flat_map(|t| t.chars()).cycle().take(len).collect();
            let login = claims(json!({"sub": "a", "name": text})).unwrap();
            assert_eq!(login.get("name"), Some(&json!(text)), "{len}");
        }
    }

    #[test]
    fn address_lines_may_be_separated_by_newlines_and_nothing_else() {
        // OIDC Core 5.1.1: `\n` or `\r\n` in formatted and street_address; `\r\n` becomes `\n`.
        let login = claims(json!({"sub": "a", "address": {"formatted": "Storgata 1\r\n0155 Oslo\nNorway", "street_address": "c/o Ola\nStorgata 1",
            "locality": "Oslo", "country": "NO"}}))
        .unwrap();
        assert_eq!(
            login.get("address"),
            Some(
                &json!({"formatted": "Storgata 1\n0155 Oslo\nNorway", "street_address": "c/o Ola\nStorgata 1", "locality": "Oslo", "country": "NO"})
            )
        );
        // Anything else, and a newline anywhere else, drops the address (and only it).
        for bad in forbidden_chars().into_iter().filter(|c| *c != '\n') {
            for member in ["formatted", "street_address", "locality", "postal_code", "country", "x"] {
                let login = claims(
                    json!({"sub": "a", "name": "Ola", "address": {member: format!("Storgata 1{bad}0155 Oslo")}}),
                )
                .unwrap();
                assert_eq!(login.get("address"), None, "U+{:04X} in {member}", bad as u32);
                assert_eq!(login.get("name"), Some(&json!("Ola")));
            }
        }
        for member in ["locality", "postal_code", "country", "x"] {
            let login = claims(json!({"sub": "a", "address": {member: "a\nb"}})).unwrap();
            assert_eq!(login.get("address"), None, "newline in {member}");
        }
        for elsewhere in [
            json!({"sub": "a", "name": "a\nb"}),
            json!({"sub": "a", "formatted": "a\nb"}),
            json!({"sub": "a", "address": "a\nb"}),
            json!({"sub": "a", "address": {"formatted": {"x": "a\nb"}}}),
            json!({"sub": "a", "address": {"formatted\n": "a"}}),
        ] {
            let login = claims(elsewhere.clone()).unwrap();
            assert_eq!(login.as_map().len(), 1, "{elsewhere}");
        }
    }

    #[test]
    fn the_log_names_a_dropped_claim_never_its_value() {
        let ((), logs) = crate::logging::capture_logs(|| {
            let mut map = Map::new();
            map.insert("sub".into(), json!("a"));
            map.insert("name".into(), json!("Secret\u{202E}Value"));
            map.insert("x\u{0}secret-name".into(), json!("v"));
            map.insert("y".repeat(65), json!("v\u{2028}"));
            map.insert("kept".into(), json!("clean"));
            let mut dropped = clean_claims(&mut map);
            dropped.sort();
            assert_eq!(dropped.len(), 3);
        });
        assert_eq!(logs.lines().count(), 3, "{logs}");
        assert!(logs.contains(r#""claim":"name""#), "{logs}");
        assert!(
            !logs.contains("Secret")
                && !logs.contains("Value")
                && !logs.contains("secret-name")
                && !logs.contains("yyyy"),
            "{logs}"
        );
        assert!(!logs.contains("\\u0000") && !logs.contains('\u{202E}'), "{logs}");
    }
}
