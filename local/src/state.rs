//! The local run's state directory: `secrets.json` (secret name to secret string), created on
//! first start with fresh random keys, used as-is afterwards (so a real Connect key can be pasted).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use whoscalling::keys::{KeySetDocument, PinName};
use whoscalling::signing::SigningAlgorithm;

use crate::LocalError;
use crate::dev_idp;

/// The Connect widget security key the default `connect` profile signs with.
pub const CONNECT_KEY_SECRET: &str = "whoscalling/connect-widget-key";
/// The development identity provider's signing key.
pub const DEV_IDP_KEY_SECRET: &str = "whoscalling/dev-identity-provider-key";
/// The keys we own (LivePerson, Live Assist, JWKS), in the same format as in Secrets Manager.
pub const SIGNING_KEYS_SECRET: &str = "whoscalling/signing-keys";
/// A stand-in for LivePerson's encryption key pair: the local run encrypts to its public half and
/// the demo page's "LivePerson side" decrypts with the private half.
pub const DEV_LIVEPERSON_KEY_SECRET: &str = "whoscalling/dev-liveperson-encryption-key";
/// Client secrets of the local OpenID provider's registered clients, the dev provider's secret
/// for our upstream login, and the session-cookie key: random strings, generated once.
pub const CLIENT_SECRETS: [&str; 4] = [
    "whoscalling/clients/local-client",
    "whoscalling/clients/liveperson",
    DEV_UPSTREAM_CLIENT_SECRET,
    SESSION_KEY_SECRET,
];
/// What the local run's upstream login authenticates with at the dev provider.
pub const DEV_UPSTREAM_CLIENT_SECRET: &str = "whoscalling/dev-upstream-client";
/// The session cookies' key secret.
pub const SESSION_KEY_SECRET: &str = "whoscalling/session-key";
/// Zendesk messaging's signing key as the `zendesk` profile reads it: `{"kid": ..., "secret": ...}`.
pub const ZENDESK_KEY_SECRET: &str = "whoscalling/zendesk-key";
/// Intercom's Messenger API secret the default `intercom` profile signs with (40 hex characters,
/// the shape Intercom shows).
pub const INTERCOM_SECRET: &str = "whoscalling/intercom-secret";
/// The CCAI Platform company secret the default `ccai` profile signs with (a stand-in: base64
/// text, like the portal's, signed as its UTF-8 bytes).
pub const CCAI_COMPANY_SECRET: &str = "whoscalling/ccai-company-secret";
/// Freshchat's account encryption key the default `freshchat` profile signs with (a stand-in:
/// random base64 text, signed as its UTF-8 bytes).
pub const FRESHCHAT_KEY_SECRET: &str = "whoscalling/freshchat-key";

/// Creates `secrets.json` if absent and adds any missing default entry; never changes an entry
/// that is there.
pub fn ensure_secrets_file(state_dir: &Path) -> Result<std::path::PathBuf, LocalError> {
    std::fs::create_dir_all(state_dir).map_err(|e| LocalError::State(format!("{}: {e}", state_dir.display())))?;
    let path = state_dir.join("secrets.json");
    let mut secrets: BTreeMap<String, String> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|_| LocalError::State(format!("{} is not a JSON object of name to string", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(LocalError::State(format!("{}: {e}", path.display()))),
    };
    let mut changed = false;
    if !secrets.contains_key(CONNECT_KEY_SECRET) {
        secrets.insert(CONNECT_KEY_SECRET.into(), connect_style_key()?);
        changed = true;
    }
    if !secrets.contains_key(DEV_IDP_KEY_SECRET) {
        secrets.insert(DEV_IDP_KEY_SECRET.into(), dev_idp::generate_key()?);
        changed = true;
    }
    if !secrets.contains_key(SIGNING_KEYS_SECRET) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256, SigningAlgorithm::ES256], now)
            .map_err(|e| LocalError::State(e.to_string()))?;
        secrets.insert(SIGNING_KEYS_SECRET.into(), keys.to_secret_string().expose().to_string());
        changed = true;
    }
    if !secrets.contains_key(DEV_LIVEPERSON_KEY_SECRET) {
        secrets.insert(DEV_LIVEPERSON_KEY_SECRET.into(), dev_idp::generate_rsa_key()?);
        changed = true;
    }
    for name in CLIENT_SECRETS {
        if !secrets.contains_key(name) {
            secrets.insert(name.into(), client_secret()?);
            changed = true;
        }
    }
    if !secrets.contains_key(INTERCOM_SECRET) {
        secrets.insert(INTERCOM_SECRET.into(), intercom_style_secret()?);
        changed = true;
    }
    if !secrets.contains_key(CCAI_COMPANY_SECRET) {
        secrets.insert(CCAI_COMPANY_SECRET.into(), connect_style_key()?);
        changed = true;
    }
    if !secrets.contains_key(ZENDESK_KEY_SECRET) {
        secrets.insert(ZENDESK_KEY_SECRET.into(), zendesk_style_key()?);
        changed = true;
    }
    if !secrets.contains_key(FRESHCHAT_KEY_SECRET) {
        secrets.insert(FRESHCHAT_KEY_SECRET.into(), connect_style_key()?);
        changed = true;
    }
    if changed {
        write_private(&path, &serde_json::to_string_pretty(&secrets).unwrap_or_default())?;
    }
    Ok(path)
}

/// Adds a pinned key for every pin the configuration signs with that the signing-key entry lacks
/// (what the deployed rotation does for the pasted-key profiles of its document); never changes a key.
pub fn ensure_pinned_keys(secrets_path: &Path, pins: &[PinName]) -> Result<(), LocalError> {
    let text = std::fs::read_to_string(secrets_path)
        .map_err(|e| LocalError::State(format!("{}: {e}", secrets_path.display())))?;
    let mut secrets: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|_| {
        LocalError::State(format!(
            "{} is not a JSON object of name to string",
            secrets_path.display()
        ))
    })?;
    let Some(current) = secrets.get(SIGNING_KEYS_SECRET) else {
        return Ok(());
    };
    let document =
        KeySetDocument::parse(current).map_err(|e| LocalError::State(format!("{SIGNING_KEYS_SECRET}: {e}")))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let with_pins = document
        .with_pins(pins, now)
        .map_err(|e| LocalError::State(e.to_string()))?;
    if with_pins.kids() != document.kids() {
        secrets.insert(
            SIGNING_KEYS_SECRET.into(),
            with_pins.to_secret_string().expose().to_string(),
        );
        write_private(
            secrets_path,
            &serde_json::to_string_pretty(&secrets).unwrap_or_default(),
        )?;
    }
    Ok(())
}

/// 32 random bytes in base64: 44 characters, the shape of a Connect security key.
fn connect_style_key() -> Result<String, LocalError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| LocalError::State("no randomness".into()))?;
    Ok(STANDARD.encode(bytes))
}

/// 20 random bytes in lowercase hex: 40 characters, the shape of Intercom's Messenger API secret.
fn intercom_style_secret() -> Result<String, LocalError> {
    let mut bytes = [0u8; 20];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| LocalError::State("no randomness".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A key id and secret in the shape Zendesk's Admin Center shows them (`app_` and 24 hex
/// characters; a base64url secret), stored together as the profile reads them.
fn zendesk_style_key() -> Result<String, LocalError> {
    let mut id = [0u8; 12];
    SystemRandom::new()
        .fill(&mut id)
        .map_err(|_| LocalError::State("no randomness".into()))?;
    let kid: String = id.iter().map(|b| format!("{b:02x}")).collect();
    Ok(serde_json::json!({"kid": format!("app_{kid}"), "secret": client_secret()?}).to_string())
}

/// 32 random bytes, base64url: what Secrets Manager's generator gives in the deployment
/// (letters and digits there; `-`/`_` here are fine in Basic credentials, which are form-encoded).
fn client_secret() -> Result<String, LocalError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| LocalError::State("no randomness".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), LocalError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| LocalError::State(format!("{}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| LocalError::State(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_file_is_created_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("whoscalling-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = ensure_secrets_file(&dir).unwrap();
        let first: BTreeMap<String, String> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(first[CONNECT_KEY_SECRET].len(), 44);
        std::fs::write(&path, r#"{"whoscalling/connect-widget-key": "pasted-real-key"}"#).unwrap();
        ensure_secrets_file(&dir).unwrap();
        let second: BTreeMap<String, String> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(second[CONNECT_KEY_SECRET], "pasted-real-key");
        assert!(second.contains_key(DEV_IDP_KEY_SECRET));
        assert_eq!(second[CCAI_COMPANY_SECRET].len(), 44);
        assert_eq!(second[FRESHCHAT_KEY_SECRET].len(), 44);
        assert_eq!(second[CLIENT_SECRETS[0]].len(), 43);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
