//! Any bytes as a visitor's bearer token: the verifier answers Ok or a typed refusal, never
//! panics, and never accepts a token our test key did not sign.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use whoscalling::identity::{Credentials, JwksError, JwksSource};
use whoscalling::keys::{KeyRing, KeySetDocument};
use whoscalling::signing::SigningAlgorithm;
use whoscalling::{IdentityVerifier, ServiceConfig, SystemClock};

struct FixedJwks(serde_json::Value);

#[async_trait::async_trait]
impl JwksSource for FixedJwks {
    async fn fetch(&self) -> Result<serde_json::Value, JwksError> {
        Ok(self.0.clone())
    }
}

fn state() -> &'static (tokio::runtime::Runtime, IdentityVerifier) {
    static STATE: OnceLock<(tokio::runtime::Runtime, IdentityVerifier)> = OnceLock::new();
    STATE.get_or_init(|| {
        let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256, SigningAlgorithm::ES256], 1).expect("keys");
        let jwks = KeyRing::from_document(&keys).expect("ring").jwks().clone();
        let config = ServiceConfig::from_json(
            "fuzz",
            r#"{"allowed_origins": [], "identity": {"sources": ["bearer_token"], "issuer": "https://idp.example.com",
                "audiences": ["web"], "algorithms": ["RS256", "ES256"], "leeway_seconds": 30},
                "profiles": {"c": {"platform": "amazon-connect", "widget_id": "w", "security_key_secret": "k",
                "token_lifetime_seconds": 500}}}"#,
        )
        .expect("config");
        let source: Arc<dyn JwksSource> = Arc::new(FixedJwks(jwks));
        let verifier = IdentityVerifier::with_jwks_source(&config, Some(source), Arc::new(SystemClock)).expect("verifier");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        (runtime, verifier)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let (runtime, verifier) = state();
    let credentials = Credentials { authorizer_claims: None, bearer: Some(token), cookies: None };
    // Nothing the fuzzer writes is signed by the key generated above.
    assert!(runtime.block_on(verifier.verify(credentials)).is_err());
});
