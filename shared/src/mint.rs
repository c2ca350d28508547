//! Minting: a verified identity and a profile in, a signed platform token out.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::claims::connect::{BoundedId, ConnectClaims};
use crate::clock::Clock;
use crate::config::{ConnectProfileConfig, ProfileConfig, ProfileName};
use crate::identity::VerifiedClaims;
use crate::mapping::{ClaimRule, MappingError};
use crate::secrets::{PLACEHOLDER_VALUE, SecretError, SecretStore};
use crate::signing::{SigningError, sign_hs256_jwt};

/// Connect refuses tokens over 6144 bytes of UTF-16; Amazon's guidance is about 3000 characters.
pub const CONNECT_MAX_TOKEN_CHARS: usize = 3000;

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("no profile named `{0}`")]
    UnknownProfile(String),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("the `{field}` value must be 1-{max} characters")]
    InvalidIdentifier { field: &'static str, max: usize },
    #[error("the token would be {length} characters, over Connect's {CONNECT_MAX_TOKEN_CHARS}; largest attributes: {}", largest_attributes.join(", "))]
    TokenTooLarge { length: usize, largest_attributes: Vec<String> },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// A freshly signed token and what the logs may say about it.
#[derive(Debug)]
pub struct MintedToken {
    pub token: String,
    pub expires_at: u64,
    /// The secret version that signed it (an id, not a value).
    pub key_version: Option<String>,
}

impl MintedToken {
    /// The body the page's callback expects (Connect: `{"data": "<JWT>"}`).
    pub fn response_body(&self) -> serde_json::Value {
        serde_json::json!({ "data": self.token })
    }
}

pub struct MintService {
    profiles: BTreeMap<ProfileName, ProfileConfig>,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
}

impl MintService {
    pub fn new(profiles: BTreeMap<ProfileName, ProfileConfig>, secrets: Arc<dyn SecretStore>, clock: Arc<dyn Clock>) -> Self {
        Self { profiles, secrets, clock }
    }

    pub fn has_profile(&self, name: &str) -> bool {
        ProfileName::parse(name).is_some_and(|n| self.profiles.contains_key(&n))
    }

    /// Mints a fresh token on every call (a token fetched earlier and reused expires).
    pub async fn mint(&self, profile: &str, identity: &VerifiedClaims) -> Result<MintedToken, MintError> {
        let profile_config = ProfileName::parse(profile)
            .and_then(|name| self.profiles.get(&name))
            .ok_or_else(|| MintError::UnknownProfile(profile.to_string()))?;
        match profile_config {
            ProfileConfig::AmazonConnect(connect) => self.mint_connect(connect, identity).await,
        }
    }

    async fn mint_connect(&self, profile: &ConnectProfileConfig, identity: &VerifiedClaims) -> Result<MintedToken, MintError> {
        // Map first: a visitor who cannot get a token costs no secret read.
        let claims = connect_claims(profile, identity, self.clock.now_unix())?;
        let key = self.secrets.get(&profile.security_key_secret).await?;
        if key.value.expose() == PLACEHOLDER_VALUE {
            return Err(SecretError::Placeholder { name: profile.security_key_secret.clone() }.into());
        }
        let token = sign_hs256_jwt(&claims, &key.value)?;
        if token.len() > CONNECT_MAX_TOKEN_CHARS {
            return Err(MintError::TokenTooLarge { length: token.len(), largest_attributes: largest_attributes(&claims) });
        }
        Ok(MintedToken { token, expires_at: claims.exp, key_version: key.version.clone() })
    }
}

/// Builds the Connect claims from the verified identity through the profile's mapping.
pub fn connect_claims(profile: &ConnectProfileConfig, identity: &VerifiedClaims, now: u64) -> Result<ConnectClaims, MintError> {
    let mut claims = ConnectClaims::new(&profile.widget_id, now, profile.token_lifetime_seconds);
    for (name, rule) in &profile.attributes {
        if let Some(value) = rule.apply(identity)? {
            claims.attributes.insert(name.clone(), value);
        }
    }
    claims.customer_id = identifier::<128>(profile.customer_id.as_ref(), identity, "customerId")?;
    claims.related_contact_id = identifier::<256>(profile.related_contact_id.as_ref(), identity, "relatedContactId")?;
    if profile.mark_authenticated {
        claims.mark_authenticated();
    }
    Ok(claims)
}

fn identifier<const MAX: usize>(
    rule: Option<&ClaimRule>,
    identity: &VerifiedClaims,
    field: &'static str,
) -> Result<Option<BoundedId<MAX>>, MintError> {
    let Some(value) = rule.map(|r| r.apply(identity)).transpose()?.flatten() else { return Ok(None) };
    BoundedId::new(value).map(Some).ok_or(MintError::InvalidIdentifier { field, max: MAX })
}

/// The attributes that weigh most, by name, for the "too large" error.
fn largest_attributes(claims: &ConnectClaims) -> Vec<String> {
    let mut sizes: Vec<_> = claims.attributes.iter().map(|(k, v)| (k.as_str().len() + v.len(), k.to_string())).collect();
    sizes.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
    sizes.into_iter().take(3).map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::secrets::InMemorySecretStore;
    use serde_json::json;

    const KEY: &str = "Yk9SRU1hZ2ljS2V5Rm9yQ29ubmVjdFdpZGdldHMxMjM0";

    fn service(profile: serde_json::Value) -> (MintService, Arc<InMemorySecretStore>) {
        let profiles: BTreeMap<ProfileName, ProfileConfig> = serde_json::from_value(json!({ "connect": profile })).unwrap();
        let store = Arc::new(InMemorySecretStore::with("connect-key", KEY));
        (MintService::new(profiles, store.clone(), Arc::new(FixedClock::at(1_700_000_000))), store)
    }

    fn profile() -> serde_json::Value {
        json!({"platform": "amazon-connect", "widget_id": "widget-1", "security_key_secret": "connect-key",
               "token_lifetime_seconds": 500,
               "attributes": {"firstName": {"claim": "given_name"}, "nationalId": {"claim": "nin", "mask": "national_id"}},
               "customer_id": {"claim": "sub"}})
    }

    fn visitor(extra: serde_json::Value) -> VerifiedClaims {
        let mut claims = json!({"sub": "alice", "given_name": "Alice", "nin": "12345678901"});
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        VerifiedClaims::from_json(claims).unwrap()
    }

    fn decode(token: &str) -> serde_json::Value {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(token, &jsonwebtoken::DecodingKey::from_secret(KEY.as_bytes()), &validation)
            .unwrap()
            .claims
    }

    #[tokio::test]
    async fn connect_token_carries_mapped_masked_attributes() {
        let (service, _) = service(profile());
        let minted = service.mint("connect", &visitor(json!({}))).await.unwrap();
        let claims = decode(&minted.token);
        assert_eq!(claims["sub"], "widget-1");
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_000_500u64);
        assert_eq!(claims["attributes"], json!({"firstName": "Alice", "nationalId": "123456*****"}));
        assert_eq!(claims["customerId"], "alice");
        assert!(!minted.token.contains("12345678901"));
        assert_eq!(minted.response_body(), json!({"data": minted.token}));
    }

    #[tokio::test]
    async fn unknown_profile_is_refused_without_reading_secrets() {
        let (service, store) = service(profile());
        let result = service.mint("other", &visitor(json!({}))).await;
        assert!(matches!(result, Err(MintError::UnknownProfile(_))));
        assert!(matches!(service.mint("../connect", &visitor(json!({}))).await, Err(MintError::UnknownProfile(_))));
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn unmappable_claim_refuses_without_reading_secrets() {
        let (service, store) = service(profile());
        let result = service.mint("connect", &visitor(json!({"given_name": {"first": "A"}}))).await;
        assert!(matches!(result, Err(MintError::Mapping(MappingError::Unconvertible { .. }))));
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn oversized_token_is_refused_naming_the_attribute() {
        let mut p = profile();
        p["attributes"]["bio"] = json!({"claim": "bio"});
        let (service, _) = service(p);
        let result = service.mint("connect", &visitor(json!({"bio": "x".repeat(2500)}))).await;
        match result {
            Err(MintError::TokenTooLarge { length, largest_attributes }) => {
                assert!(length > CONNECT_MAX_TOKEN_CHARS);
                assert_eq!(largest_attributes[0], "bio");
            }
            other => panic!("expected TokenTooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn overlong_customer_id_is_refused() {
        let (service, _) = service(profile());
        let long_sub = "s".repeat(200);
        let result = service.mint("connect", &visitor(json!({"sub": long_sub}))).await;
        assert!(matches!(result, Err(MintError::InvalidIdentifier { field: "customerId", max: 128 })));
    }

    #[tokio::test]
    async fn outage_is_a_transient_secret_error() {
        let (service, store) = service(profile());
        store.set_unavailable(true);
        match service.mint("connect", &visitor(json!({}))).await {
            Err(MintError::Secret(e)) => assert!(e.is_transient()),
            other => panic!("expected a secret error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn placeholder_key_is_never_used_to_sign() {
        let (service, store) = service(profile());
        store.put("connect-key", PLACEHOLDER_VALUE);
        let result = service.mint("connect", &visitor(json!({}))).await;
        assert!(matches!(result, Err(MintError::Secret(SecretError::Placeholder { .. }))), "{result:?}");
    }

    #[tokio::test]
    async fn authenticated_segment_is_added_when_configured() {
        let mut p = profile();
        p["mark_authenticated"] = json!(true);
        let (service, _) = service(p);
        let claims = decode(&service.mint("connect", &visitor(json!({}))).await.unwrap().token);
        assert_eq!(
            claims["segmentAttributes"]["connect:CustomerAuthentication"]["ValueMap"]["Status"]["ValueString"],
            "AUTHENTICATED"
        );
    }
}
