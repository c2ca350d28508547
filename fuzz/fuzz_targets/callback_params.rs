//! Any bytes as the upstream login callback's query string: the parameter check answers Ok or a
//! 400 `invalid_callback`, never panics, and what it accepts holds only the names a provider
//! sends (after percent-decoding), each once, so an injected `redirect_uri`, `client_id`,
//! `code_verifier` or `nonce`, or a second `state`, can never reach the provider.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whoscalling::http::ApiError;
use whoscalling::upstream_login::{CALLBACK_PARAMETERS, callback_params};

fuzz_target!(|data: &[u8]| {
    // The handler sees the query as text (a URI's query is ASCII, percent-encoded).
    let Ok(query) = std::str::from_utf8(data) else { return };
    let names: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect();
    match callback_params(query) {
        Ok(params) => {
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "a repeated parameter was accepted");
            for name in &names {
                assert!(
                    CALLBACK_PARAMETERS.contains(&name.as_str()),
                    "a parameter no provider sends was accepted"
                );
            }
            // What the callback reads is exactly what the query says.
            for (name, value) in form_urlencoded::parse(query.as_bytes()) {
                if !value.is_empty() {
                    assert_eq!(params.get(&name), Some(value.as_ref()));
                }
            }
        }
        Err(error) => {
            let answer = ApiError::from(&error);
            assert_eq!(
                (answer.status().as_u16(), answer.code.as_str()),
                (400, "invalid_callback")
            );
        }
    }
});
