//! Any bytes as a visitor's `Cookie` header: the session verifier answers no session, a session,
//! or a typed refusal, never panics, and accepts a session only when the header carries the exact
//! cookie we sealed. The first byte picks the mode: a raw header, or our genuine cookie with one
//! byte changed (any change must be refused: AES-GCM authenticates every bit).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use whoscalling::adapters::InMemorySecretStore;
use whoscalling::session::{Purpose, SessionKeys, SessionPayload, SessionVerifier};
use whoscalling::{Clock, SecretName, SystemClock};

const COOKIE: &str = "whoscalling_session";

struct State {
    runtime: tokio::runtime::Runtime,
    verifier: SessionVerifier,
    genuine: String,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        let store = Arc::new(InMemorySecretStore::with(
            "session-key",
            "a-fuzzing-session-key-of-at-least-32-characters",
        ));
        let name = SecretName::try_from("session-key".to_string()).expect("name");
        let keys = Arc::new(SessionKeys::new(store, name));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let now = SystemClock.now_unix();
        let payload = SessionPayload {
            provider: "bankid".into(),
            claims: json!({"sub": "alice", "nin": "011299*****"})
                .as_object()
                .expect("object")
                .clone(),
            iat: now,
            exp: now + 86_400,
        };
        let genuine = runtime
            .block_on(keys.seal_json(Purpose::Session, &payload))
            .expect("seal");
        let verifier = SessionVerifier::new(keys, COOKIE.into(), Arc::new(SystemClock));
        // The control: the genuine cookie verifies, so a refusal below is the tampering's doing.
        let control = runtime.block_on(verifier.verify(Some(&format!("{COOKIE}={genuine}"))));
        assert!(
            matches!(control, Ok(Some(ref claims)) if claims.subject() == "alice"),
            "the genuine cookie must verify"
        );
        State {
            runtime,
            verifier,
            genuine,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let state = state();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let header = if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        text.to_string()
    } else {
        // Our cookie with the byte at `position` replaced by `replacement`.
        let [high, low, replacement, ..] = rest else { return };
        let mut tampered = state.genuine.clone().into_bytes();
        let position = usize::from(u16::from_be_bytes([*high, *low])) % tampered.len();
        if tampered[position] == *replacement {
            return;
        }
        tampered[position] = *replacement;
        let Ok(tampered) = String::from_utf8(tampered) else {
            return;
        };
        format!("{COOKIE}={tampered}")
    };
    let verified = state.runtime.block_on(state.verifier.verify(Some(&header)));
    if let Ok(Some(claims)) = verified {
        assert!(
            header.contains(&state.genuine),
            "a session was accepted that we never sealed: {header:?}"
        );
        assert_eq!(claims.subject(), "alice");
    }
});
