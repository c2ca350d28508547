//! Any bytes as the token endpoint's `Authorization` header and form body (split at the first
//! NUL): parsing and client authentication answer Ok or an OAuth error, never panic, and a
//! repeated parameter is never accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whoscalling::openid_provider::Params;
use whoscalling::openid_provider::oauth::presented_client;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == 0) {
        Some(at) => (Some(&data[..at]), &data[at + 1..]),
        None => (None, data),
    };
    match Params::from_form(body) {
        Ok(params) => {
            let names: Vec<_> = form_names(body);
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "a repeated parameter was accepted");
            let _ = presented_client(header, &params);
        }
        Err(error) => assert_eq!(error.code.as_str(), "invalid_request"),
    }
});

/// The names in a form body, decoded by the same standard parser.
fn form_names(body: &[u8]) -> Vec<String> {
    form_urlencoded::parse(body)
        .map(|(name, _)| name.into_owned())
        .collect()
}
