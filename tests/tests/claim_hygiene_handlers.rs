//! Hostile claims through the real mint-token handler, as API Gateway's JWT authorizer hands
//! them over (every claim a string): a national id that is no national id, and every class of
//! control or invisible character in a name or the subject. The Connect token (checked by
//! jwcrypto) carries none of it; the visitor still gets a token; a bad `sub` is a 401.

use std::sync::Arc;

use mint_token::function_handler;
use serde_json::{Value, json};
use whoscalling::adapters::InMemorySecretStore;
use whoscalling::values::hygiene::has_forbidden_char;
use whoscalling::{IdentityVerifier, SystemClock};
use whoscalling_tests::{CapturedLogs, events_config, json_body, verify_independently, workspace_root};

const CONNECT_KEY: &str = "c2FtcGxlLWNvbm5lY3Qtd2lkZ2V0LXNlY3VyaXR5LWtleQ";
const WIDGET_ID: &str = "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11";

/// One of each forbidden class: C0 (NUL, CR, LF, TAB, ESC), DEL, C1 (NEL, CSI), zero-width
/// space, LRM, RLM, Arabic letter mark, RLO, LRE, FSI, PDI, line and paragraph separators, word
/// joiner, BOM, soft hyphen, a tag character (the shared crate's unit tests walk every one).
const FORBIDDEN_SAMPLES: [char; 23] = [
    '\0',
    '\r',
    '\n',
    '\t',
    '\u{1B}',
    '\u{7F}',
    '\u{85}',
    '\u{9B}',
    '\u{200B}',
    '\u{200E}',
    '\u{200F}',
    '\u{061C}',
    '\u{202E}',
    '\u{202A}',
    '\u{2068}',
    '\u{2069}',
    '\u{2028}',
    '\u{2029}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{AD}',
    '\u{E0041}',
    '\u{E007F}',
];

fn deps() -> mint_token::Deps {
    let config = events_config();
    let clock = Arc::new(SystemClock);
    let identity = IdentityVerifier::with_jwks_source(&config, None, clock.clone()).expect("identity");
    let secrets = Arc::new(InMemorySecretStore::with("whoscalling/connect-widget-key", CONNECT_KEY));
    mint_token::Deps::new(&config, identity, secrets, clock).expect("deps")
}

/// The sample Connect event with the authorizer's claims replaced by `claims` (plus `iss`, `aud`,
/// `iat`, `exp`).
fn event(claims: Value) -> lambda_http::Request {
    let text = std::fs::read_to_string(workspace_root().join("events/mint-token/valid-authorizer-get.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let mut claims = claims;
    claims["iss"] = json!("https://idp.example.com");
    claims["aud"] = json!("web");
    // The authorizer passes time claims as strings; a one-hour login issued a minute ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    claims["iat"] = json!((now - 60).to_string());
    claims["exp"] = json!((now + 3540).to_string());
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
    lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event")
}

/// Mints for `claims`; the token's attributes (jwcrypto-checked) on 200, else (status, error).
async fn mint(deps: &mint_token::Deps, claims: Value) -> Result<Value, (u16, Value)> {
    let sub = claims["sub"].clone();
    let response = function_handler(deps, event(claims)).await.expect("handler");
    let status = response.status().as_u16();
    let body = json_body(&response);
    if status != 200 {
        return Err((status, body["error"].clone()));
    }
    let verdict = verify_independently(
        &json!({"token": body["data"], "key": {"hmac_utf8": CONNECT_KEY}, "rules": "amazon-connect",
        "expect": {"sub": WIDGET_ID, "customerId": sub}}),
    );
    assert_eq!(verdict["ok"], true, "{verdict}");
    let claims = &verdict["claims"];
    assert!(!carries_forbidden(claims), "a forbidden character in the token");
    Ok(claims["attributes"].clone())
}

/// Whether any string or key in `value` carries a forbidden character.
fn carries_forbidden(value: &Value) -> bool {
    match value {
        Value::String(text) => has_forbidden_char(text),
        Value::Array(items) => items.iter().any(carries_forbidden),
        Value::Object(members) => members
            .iter()
            .any(|(k, v)| has_forbidden_char(k) || carries_forbidden(v)),
        _ => false,
    }
}

#[tokio::test]
async fn hostile_authorizer_claims_reach_no_connect_token() {
    let logs = CapturedLogs::install();
    let deps = deps();
    // Controls: real ids of four countries, accented names: masked and kept.
    for (nin, masked, given, family) in [
        ("01129954321", "011299*****", "Åse", "Ødegård"),
        ("19900101-1234", "1990010*-****", "Björn", "Åström"),
        ("010190-1234", "01019*-****", "Søren", "Ærø"),
        ("131052-308T", "1310**-***T", "Väinö", "Hämäläinen"),
    ] {
        let attributes = mint(
            &deps,
            json!({"sub": "alice", "given_name": given, "family_name": family, "nin": nin}),
        )
        .await
        .unwrap();
        assert_eq!(
            attributes,
            json!({"firstName": given, "lastName": family, "nationalId": masked}),
            "{nin}"
        );
    }
    // Hostile national ids by class: dropped, the names kept.
    let mut nins: Vec<String> = [0, 1, 5, 15, 100, 599].iter().map(|n| "7".repeat(*n)).collect();
    for zero in ['\u{0660}', '\u{06F0}', '\u{FF10}'] {
        nins.push(
            "01129954321"
                .chars()
                .map(|d| char::from_u32(zero as u32 + d.to_digit(10).unwrap()).unwrap())
                .collect(),
        );
    }
    nins.extend(
        [
            "011299\r\n54321",
            "01129954321ABC",
            "0-1-1-2-9-9-54321",
            "-01129954321",
            "1.5e300",
        ]
        .map(String::from),
    );
    for nin in &nins {
        let attributes = mint(
            &deps,
            json!({"sub": "alice", "given_name": "Ola", "family_name": "Nordmann", "nin": nin}),
        )
        .await
        .unwrap();
        assert_eq!(
            attributes,
            json!({"firstName": "Ola", "lastName": "Nordmann"}),
            "{nin:?}"
        );
    }
    // Every forbidden class in a name: that claim dropped, the rest kept; in `sub`: a 401.
    for bad in FORBIDDEN_SAMPLES {
        let attributes = mint(
            &deps,
            json!({"sub": "alice", "given_name": format!("O{bad}la"), "family_name": "Nordmann", "nin": "01129954321"}),
        )
        .await;
        assert_eq!(
            attributes.unwrap(),
            json!({"lastName": "Nordmann", "nationalId": "011299*****"}),
            "U+{:04X}",
            bad as u32
        );
        let refused = mint(&deps, json!({"sub": format!("alice{bad}"), "given_name": "Ola"})).await;
        assert_eq!(
            refused.unwrap_err(),
            (401, json!("invalid_token")),
            "U+{:04X} in sub",
            bad as u32
        );
    }
    let long: Vec<&str> = nins.iter().map(String::as_str).filter(|n| n.len() >= 15).collect();
    logs.assert_free_of(&long);
    assert!(
        logs.text().contains(r#""claim":"given_name""#),
        "the drop is logged by claim name"
    );
}
