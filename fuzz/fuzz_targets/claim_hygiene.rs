//! Any claims (any JSON object, or any string as a name, a national id and an address line)
//! through the door every identity source uses and the claim policy every profile sees: no
//! output claim name, key or string carries a forbidden character (a `\n` only in the multi-line
//! address members), and every national id that survives is masked: 6 to 14 digits, the last
//! five hidden, so at most nine revealed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use whoscalling::VerifiedClaims;
use whoscalling::mapping::{ClaimPolicy, DEFAULT_MASKED_CLAIMS, MASKED_DIGITS, NATIONAL_ID_DIGITS};
use whoscalling::values::hygiene::is_forbidden_char;

fn check_clean(value: &Value, newline_allowed: bool) {
    let clean = |text: &str| {
        text.chars()
            .all(|c| !is_forbidden_char(c) || (newline_allowed && c == '\n'))
    };
    match value {
        Value::String(text) => assert!(clean(text), "a forbidden character passed"),
        Value::Array(items) => items.iter().for_each(|v| check_clean(v, false)),
        Value::Object(members) => {
            for (key, member) in members {
                assert!(
                    !key.chars().any(is_forbidden_char),
                    "a forbidden character in a key passed"
                );
                check_clean(member, false);
            }
        }
        _ => {}
    }
}

fn check(claims: Value) {
    let sub = claims.get("sub").cloned();
    let Some(verified) = VerifiedClaims::from_json(claims) else {
        return;
    };
    assert_eq!(
        Some(Value::String(verified.subject().to_string())),
        sub,
        "sub is never rewritten"
    );
    let out = ClaimPolicy::default().apply(verified);
    for (name, value) in out.as_map() {
        assert!(
            !name.chars().any(is_forbidden_char),
            "a forbidden character in a claim name passed"
        );
        match (name.as_str(), value) {
            ("address", Value::Object(members)) => {
                for (key, member) in members {
                    assert!(!key.chars().any(is_forbidden_char));
                    check_clean(member, matches!(key.as_str(), "formatted" | "street_address"));
                }
            }
            _ => check_clean(value, false),
        }
        if DEFAULT_MASKED_CLAIMS.contains(&name.as_str()) {
            let Value::String(masked) = value else {
                panic!("a national id that is not a masked string passed")
            };
            let digit_like: Vec<char> = masked.chars().filter(|c| c.is_ascii_digit() || *c == '*').collect();
            assert!(
                NATIONAL_ID_DIGITS.contains(&digit_like.len()),
                "{} digits",
                digit_like.len()
            );
            assert!(
                digit_like[digit_like.len() - MASKED_DIGITS..].iter().all(|c| *c == '*'),
                "the last five digits are hidden"
            );
            let revealed = masked.chars().filter(char::is_ascii_digit).count();
            assert!(revealed <= digit_like.len() - MASKED_DIGITS);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(data) {
        map.entry("sub").or_insert_with(|| json!("fuzz-visitor"));
        check(Value::Object(map));
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut claims = json!({"sub": "fuzz-visitor", "name": text, "address": {"formatted": text, "locality": text}, "list": [{text: text}]});
    for name in DEFAULT_MASKED_CLAIMS {
        claims[name] = json!(text);
    }
    check(claims.clone());
    claims["sub"] = json!(text);
    check(claims);
});
