//! Any bytes as a visitor's bearer token: the verifier answers Ok or a typed refusal, never
//! panics, and accepts a token only when it is exactly one our test key signed. The first byte
//! picks the mode: raw bytes, or one of our genuine tokens (RS256 or ES256) with one byte changed
//! (any change must be refused: the signature covers header and payload, and the signature
//! segment decodes strictly).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use whoscalling::identity::{Credentials, JwksError, JwksSource};
use whoscalling::keys::{KeyRing, KeySetDocument};
use whoscalling::signing::SigningAlgorithm;
use whoscalling::{Clock, IdentityVerifier, ServiceConfig, SystemClock};

struct FixedJwks(serde_json::Value);

#[async_trait::async_trait]
impl JwksSource for FixedJwks {
    async fn fetch(&self) -> Result<serde_json::Value, JwksError> {
        Ok(self.0.clone())
    }
}

struct State {
    runtime: tokio::runtime::Runtime,
    verifier: IdentityVerifier,
    /// Tokens the test key signed for alice, one per algorithm.
    genuine: Vec<String>,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256, SigningAlgorithm::ES256], 1).expect("keys");
        let ring = KeyRing::from_document(&keys).expect("ring");
        let config = ServiceConfig::from_json(
            "fuzz",
            r#"{"allowed_origins": [], "identity": {"sources": ["bearer_token"], "issuer": "https://idp.example.com",
                "audiences": ["web"], "algorithms": ["RS256", "ES256"], "leeway_seconds": 30},
                "profiles": {"c": {"platform": "amazon-connect", "widget_id": "w", "security_key_secret": "k",
                "token_lifetime_seconds": 500}}}"#,
        )
        .expect("config");
        let source: Arc<dyn JwksSource> = Arc::new(FixedJwks(ring.jwks().clone()));
        let verifier = IdentityVerifier::with_jwks_source(&config, Some(source), Arc::new(SystemClock)).expect("verifier");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        // Nearly the longest lifetime the default visitor policy accepts (12 h), so a long fuzzing
        // run keeps meeting tokens that are still valid.
        let now = SystemClock.now_unix();
        let claims = serde_json::json!({"iss": "https://idp.example.com", "aud": "web", "sub": "alice", "iat": now, "exp": now + 43_000});
        let genuine: Vec<String> = [SigningAlgorithm::RS256, SigningAlgorithm::ES256]
            .into_iter()
            .map(|alg| ring.signer(alg).expect("signer").sign_jwt(&claims).expect("sign"))
            .collect();
        // The control: each genuine token verifies, so a refusal below is the fuzzer's doing.
        for token in &genuine {
            let credentials = Credentials { authorizer_claims: None, bearer: Some(token), cookies: None };
            let control = runtime.block_on(verifier.verify(credentials));
            assert!(matches!(control, Ok(ref claims) if claims.subject() == "alice"), "a genuine token must verify: {control:?}");
        }
        State { runtime, verifier, genuine }
    })
}

fuzz_target!(|data: &[u8]| {
    let state = state();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        text.to_string()
    } else {
        // A genuine token with the byte at `position` replaced by `replacement`.
        let [which, high, low, replacement, ..] = rest else {
            return;
        };
        let mut tampered = state.genuine[usize::from(*which) % state.genuine.len()]
            .clone()
            .into_bytes();
        let position = usize::from(u16::from_be_bytes([*high, *low])) % tampered.len();
        if tampered[position] == *replacement {
            return;
        }
        tampered[position] = *replacement;
        let Ok(tampered) = String::from_utf8(tampered) else {
            return;
        };
        tampered
    };
    let credentials = Credentials {
        authorizer_claims: None,
        bearer: Some(&token),
        cookies: None,
    };
    if let Ok(claims) = state.runtime.block_on(state.verifier.verify(credentials)) {
        assert!(
            state.genuine.contains(&token),
            "a token was accepted that our key never signed: {token:?}"
        );
        assert_eq!(claims.subject(), "alice");
    }
});
