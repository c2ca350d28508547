//! Minting: a verified identity and a profile in, a signed platform token out.
//!
//! A thin service over the platform registry ([`crate::platforms`]): the claim policy (masking)
//! is applied first, so no platform ever sees an unmasked national id; the profile's platform
//! builds its typed claims; this service signs them with the key the platform names (a pasted
//! vendor secret, or a key we own), wraps them when the platform asks, and shapes the answer.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{ConfigError, ProfileName, ServiceConfig};
use crate::jwe::{JweError, JweRecipient};
use crate::keys::{KeyChoice, KeyError, SigningKeys};
use crate::mapping::{ClaimPolicy, MappingError};
use crate::platforms::zendesk::ZendeskKey;
use crate::platforms::{ClaimsError, KeyKind, Platform, ProfileConfig};
use crate::secrets::{SecretError, SecretName, SecretStore, is_placeholder};
use crate::signing::{SigningError, sign_hs256_jwt, sign_hs256_jwt_with_kid};
use crate::values::VerifiedClaims;
use crate::values::{PageInput, PageInputError};

use crate::platforms::ResponseShape;

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("no profile named `{0}`")]
    UnknownProfile(String),
    /// The visitor's claims make no token for this platform (403 `insufficient_claims`, or 413
    /// `token_too_large`).
    #[error(transparent)]
    Claims(ClaimsError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Encryption(#[from] JweError),
    /// The page's body is not what the platform takes (400 `invalid_request`).
    #[error(transparent)]
    PageInput(PageInputError),
}

impl From<ClaimsError> for MintError {
    /// A claim set that does not serialize is a signing failure (500), not the visitor's claims;
    /// a body the platform does not take is the caller's request, not the visitor's claims.
    fn from(error: ClaimsError) -> Self {
        match error {
            ClaimsError::Serialize(error) => MintError::Signing(SigningError::Serialize(error)),
            ClaimsError::Page(error) => MintError::PageInput(error),
            error => MintError::Claims(error),
        }
    }
}

impl From<MappingError> for MintError {
    fn from(error: MappingError) -> Self {
        MintError::Claims(ClaimsError::Mapping(error))
    }
}

/// A freshly signed token and what the logs may say about it.
pub struct MintedToken {
    pub token: String,
    pub expires_at: u64,
    /// The secret version or `kid` that signed it (an id, not a value).
    pub key_version: Option<String>,
    pub shape: ResponseShape,
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedToken")
            .field("token", &crate::platforms::Redacted)
            .field("expires_at", &self.expires_at)
            .field("key_version", &self.key_version)
            .field("shape", &self.shape)
            .finish()
    }
}

impl MintedToken {
    /// The body the page's callback expects.
    pub fn response_body(&self) -> serde_json::Value {
        self.shape.body(&self.token)
    }
}

/// The key a profile's tokens are signed with, resolved at cold start.
#[derive(Debug)]
enum MintKey {
    /// A vendor-issued secret (HS256 over its UTF-8 bytes).
    Pasted(SecretName),
    /// A vendor-issued secret stored with its key id (`{"kid", "secret"}`): HS256 with `kid`.
    PastedWithKid(SecretName),
    Ours(KeyChoice),
}

/// A `/token/{profile}` profile with everything derivable at cold start already derived: the
/// typed handle a request resolves once (from the path) and hands on.
pub struct MintProfile {
    name: ProfileName,
    config: ProfileConfig,
    key: MintKey,
    /// The JWE the signed token is wrapped in (parsed once).
    encryption: Option<JweRecipient>,
}

impl MintProfile {
    /// The profile's configured name (a metric dimension and log field).
    pub fn name(&self) -> &ProfileName {
        &self.name
    }
}

impl fmt::Debug for MintProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("MintProfile");
        out.field("name", &self.name)
            .field("platform", &self.config.kind())
            .finish_non_exhaustive()
    }
}

pub struct MintService {
    profiles: BTreeMap<ProfileName, MintProfile>,
    policy: ClaimPolicy,
    secrets: Arc<dyn SecretStore>,
    signing_keys: Option<Arc<SigningKeys>>,
    clock: Arc<dyn Clock>,
}

/// The JWE recipient a profile's tokens are wrapped for, if it has one: parsed once, at cold
/// start, by the implicit flow (`/token/{profile}`) and the code flow (the provider).
pub fn recipient(name: &ProfileName, platform: &dyn Platform) -> Result<Option<JweRecipient>, ConfigError> {
    let Some(encryption) = platform.encryption() else {
        return Ok(None);
    };
    JweRecipient::from_public_key(
        &encryption.public_key,
        encryption.alg,
        encryption.enc,
        encryption.kid.clone(),
    )
    .map(Some)
    .map_err(|error| ConfigError::Setting {
        setting: format!("profiles.{name}.encryption.public_key"),
        reason: error.to_string(),
    })
}

impl MintService {
    /// Prepares every profile served at `/token/{profile}` (encryption keys are parsed here, once).
    pub fn new(
        config: &ServiceConfig,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let mut profiles = BTreeMap::new();
        for (name, profile) in &config.profiles {
            let platform = profile.platform();
            // A profile only the OpenID provider serves (openid-connect, LivePerson's code flow).
            if platform.token_endpoint().is_none() {
                continue;
            }
            let key = match platform.key() {
                KeyKind::Pasted(secret) => MintKey::Pasted(secret),
                KeyKind::PastedWithKid(secret) => MintKey::PastedWithKid(secret),
                _ => MintKey::Ours(profile.key_choice(name).ok_or_else(|| ConfigError::Setting {
                    setting: format!("profiles.{name}"),
                    reason: "this platform names no key".into(),
                })?),
            };
            let encryption = recipient(name, platform)?;
            profiles.insert(
                name.clone(),
                MintProfile {
                    name: name.clone(),
                    config: profile.clone(),
                    key,
                    encryption,
                },
            );
        }
        let signing_keys = config
            .signing_keys
            .as_ref()
            .map(|k| Arc::new(SigningKeys::new(secrets.clone(), k.secret.clone())));
        Ok(Self {
            profiles,
            policy: config.claim_policy.clone(),
            secrets,
            signing_keys,
            clock,
        })
    }

    /// The profile `/token/{name}` mints for, resolved once per request; `None` for any name
    /// that is not a configured token profile.
    pub fn profile(&self, name: &str) -> Option<&MintProfile> {
        ProfileName::parse(name).and_then(|name| self.profiles.get(&name))
    }

    pub fn has_profile(&self, name: &str) -> bool {
        self.profile(name).is_some()
    }

    /// The signing keys we own, when configured (the JWKS endpoint serves them).
    pub fn signing_keys(&self) -> Option<&Arc<SigningKeys>> {
        self.signing_keys.as_ref()
    }

    /// Mints a fresh token on every call (a token fetched earlier and reused expires). `page` is
    /// the request body's object, handed to the platform (only Freshchat reads it).
    pub async fn mint(
        &self,
        profile: &MintProfile,
        identity: VerifiedClaims,
        page: &PageInput,
    ) -> Result<MintedToken, MintError> {
        let identity = self.policy.apply(identity);
        let now = self.clock.now_unix();
        // Only profiles with a token endpoint are prepared (see `MintService::new`).
        let endpoint = profile.config.platform().token_endpoint();
        let endpoint = endpoint.ok_or_else(|| MintError::UnknownProfile(profile.name.to_string()))?;
        // Map first: a visitor who cannot get a token costs no secret read.
        let claims = endpoint.claims(&identity, page, now)?;
        let payload = claims.payload().map_err(SigningError::Serialize)?;
        let (token, key_version) = match &profile.key {
            MintKey::Pasted(secret) => {
                let key = self.secrets.get(secret).await?;
                if is_placeholder(key.value.expose()) {
                    crate::metrics::pasted_key_missing();
                    return Err(SecretError::Placeholder { name: secret.clone() }.into());
                }
                (sign_hs256_jwt(&payload, &key.value)?, key.version.clone())
            }
            MintKey::PastedWithKid(secret) => {
                let stored = self.secrets.get(secret).await?;
                if is_placeholder(stored.value.expose()) {
                    crate::metrics::pasted_key_missing();
                    return Err(SecretError::Placeholder { name: secret.clone() }.into());
                }
                let key = ZendeskKey::parse(stored.value.expose()).map_err(|reason| SecretError::Malformed {
                    name: secret.clone(),
                    reason,
                })?;
                let token = sign_hs256_jwt_with_kid(&payload, &key.kid, &key.secret)?;
                // The vendor's key id names the key in logs; it is not secret.
                (token, Some(key.kid.clone()))
            }
            MintKey::Ours(choice) => {
                let signer = self.keys()?.ring().await?.signer_for(choice)?;
                (signer.sign_jwt(&payload)?, Some(signer.kid().to_string()))
            }
        };
        claims.check_signed(&token)?;
        let token = match &profile.encryption {
            Some(recipient) => recipient.encrypt_jwt(&token)?,
            None => token,
        };
        Ok(MintedToken {
            token,
            expires_at: claims.expires_at(),
            key_version,
            shape: endpoint.shape(),
        })
    }

    /// Resolves `name` and mints without a body (tests and benches; a handler resolves once with
    /// [`MintService::profile`]).
    pub async fn mint_named(&self, name: &str, identity: VerifiedClaims) -> Result<MintedToken, MintError> {
        let profile = self
            .profile(name)
            .ok_or_else(|| MintError::UnknownProfile(name.to_string()))?;
        self.mint(profile, identity, &PageInput::empty()).await
    }

    fn keys(&self) -> Result<&SigningKeys, MintError> {
        // Config validation requires signing_keys for these profiles; this is a belt to its braces.
        self.signing_keys
            .as_deref()
            .ok_or(MintError::Keys(KeyError::NotInitialized))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::InMemorySecretStore;
    use crate::clock::FixedClock;
    use crate::platforms::amazon_connect::ConnectProfileConfig;
    use crate::platforms::amazon_connect::{CONNECT_MAX_TOKEN_CHARS, connect_claims};
    use crate::platforms::liveperson::LivePersonProfileConfig;
    use crate::platforms::liveperson::liveperson_claims;
    use crate::secrets::PLACEHOLDER_VALUE;
    use serde_json::json;

    const KEY: &str = "Yk9SRU1hZ2ljS2V5Rm9yQ29ubmVjdFdpZGdldHMxMjM0";

    fn service(profile: serde_json::Value) -> (MintService, Arc<InMemorySecretStore>) {
        let config = ServiceConfig::from_json(
            "test",
            &json!({"allowed_origins": [], "identity": {"sources": ["api_gateway_authorizer"]},
                    "profiles": { "connect": profile }})
            .to_string(),
        )
        .unwrap();
        let store = Arc::new(InMemorySecretStore::with("connect-key", KEY));
        (
            MintService::new(&config, store.clone(), Arc::new(FixedClock::at(1_700_000_000))).unwrap(),
            store,
        )
    }

    fn profile() -> serde_json::Value {
        json!({"platform": "amazon-connect", "widget_id": "widget-1", "security_key_secret": "connect-key",
               "token_lifetime_seconds": 500,
               "attributes": {"firstName": {"claim": "given_name"}, "nationalId": {"claim": "nin", "mask": "national_id"}},
               "customer_id": {"claim": "sub"}})
    }

    fn visitor(extra: serde_json::Value) -> VerifiedClaims {
        let mut claims = json!({"sub": "alice", "given_name": "Alice", "nin": "12345678901"});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        VerifiedClaims::from_json(claims).unwrap()
    }

    fn decode(token: &str) -> serde_json::Value {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(KEY.as_bytes()),
            &validation,
        )
        .unwrap()
        .claims
    }

    #[tokio::test]
    async fn connect_token_carries_mapped_masked_attributes() {
        let (service, _) = service(profile());
        let minted = service.mint_named("connect", visitor(json!({}))).await.unwrap();
        let claims = decode(&minted.token);
        assert_eq!(claims["sub"], "widget-1");
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_000_500u64);
        assert_eq!(
            claims["attributes"],
            json!({"firstName": "Alice", "nationalId": "123456*****"})
        );
        assert_eq!(claims["customerId"], "alice");
        assert!(!minted.token.contains("12345678901"));
        assert_eq!(minted.response_body(), json!({"data": minted.token}));
    }

    /// The token is byte for byte what signing the typed claims directly gives (the wire format
    /// before the platforms moved into their modules): HS256 for Connect, and RS256 (PKCS#1 v1.5
    /// is deterministic) for the platforms signed with our keys.
    #[tokio::test]
    async fn tokens_are_the_typed_claims_signed_as_before() {
        let (service, _) = service(profile());
        let minted = service.mint_named("connect", visitor(json!({}))).await.unwrap();
        let connect = ConnectProfileConfig::clone(match &service.profile("connect").unwrap().config {
            ProfileConfig::AmazonConnect(connect) => connect,
            _ => unreachable!(),
        });
        let identity = service.policy.apply(visitor(json!({})));
        let direct = sign_hs256_jwt(
            &connect_claims(&connect, &identity, 1_700_000_000).unwrap(),
            &crate::secrets::SecretString::new(KEY.to_string()),
        );
        assert_eq!(minted.token, direct.unwrap());

        let document = json!({"allowed_origins": [], "identity": {"sources": ["api_gateway_authorizer"]},
            "signing_keys": {"secret": "keys"},
            "profiles": {"liveperson": {"platform": "liveperson", "issuer": "https://a.example", "token_lifetime_seconds": 600,
                                        "claims": {"given_name": {"claim": "given_name"}},
                                        "customer_info": {"customerId": {"claim": "sub"}}}}});
        let config = ServiceConfig::from_json("test", &document.to_string()).unwrap();
        let store = Arc::new(InMemorySecretStore::default());
        let keys =
            crate::keys::KeySetDocument::generate(&[crate::signing::SigningAlgorithm::RS256], 1_600_000_000).unwrap();
        store.put("keys", keys.to_secret_string().expose());
        let service = MintService::new(&config, store, Arc::new(FixedClock::at(1_700_000_000))).unwrap();
        let minted = service.mint_named("liveperson", visitor(json!({}))).await.unwrap();
        let ProfileConfig::LivePerson(liveperson) = &config.profiles[&ProfileName::parse("liveperson").unwrap()] else {
            unreachable!()
        };
        let signer = service
            .keys()
            .unwrap()
            .ring()
            .await
            .unwrap()
            .signer_for(&KeyChoice::Rotating(crate::signing::SigningAlgorithm::RS256))
            .unwrap();
        let direct = signer
            .sign_jwt(&liveperson_claims(liveperson, &visitor(json!({})), 1_700_000_000).unwrap())
            .unwrap();
        assert_eq!(minted.token, direct);
    }

    #[tokio::test]
    async fn minted_token_debug_prints_no_token() {
        let (service, _) = service(profile());
        let minted = service.mint_named("connect", visitor(json!({}))).await.unwrap();
        let printed = format!("{minted:?}");
        let signature = minted.token.rsplit('.').next().unwrap();
        assert!(
            !printed.contains(&minted.token) && !printed.contains(signature),
            "{printed}"
        );
        assert!(
            printed.contains("token: [redacted]") && printed.contains("expires_at: 1700000500"),
            "{printed}"
        );
    }

    #[tokio::test]
    async fn a_code_flow_only_liveperson_profile_is_not_a_token_endpoint() {
        let config = ServiceConfig::from_json(
            "test",
            &json!({"allowed_origins": [], "identity": {"sources": ["api_gateway_authorizer"]},
                    "signing_keys": {"secret": "keys"},
                    "profiles": {
                        "liveperson": {"platform": "liveperson", "issuer": "https://a.example", "token_lifetime_seconds": 600},
                        "liveperson-code": {"platform": "liveperson", "issuer": "https://a.example", "token_lifetime_seconds": 600,
                                            "implicit_flow": false}}})
            .to_string(),
        )
        .unwrap();
        let store = Arc::new(InMemorySecretStore::default());
        let service = MintService::new(&config, store.clone(), Arc::new(FixedClock::at(1_700_000_000))).unwrap();
        assert!(service.has_profile("liveperson"));
        assert!(!service.has_profile("liveperson-code"));
        let refused = service.mint_named("liveperson-code", visitor(json!({}))).await;
        assert!(matches!(refused, Err(MintError::UnknownProfile(_))));
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn unknown_profile_is_refused_without_reading_secrets() {
        let (service, store) = service(profile());
        let result = service.mint_named("other", visitor(json!({}))).await;
        assert!(matches!(result, Err(MintError::UnknownProfile(_))));
        assert!(matches!(
            service.mint_named("../connect", visitor(json!({}))).await,
            Err(MintError::UnknownProfile(_))
        ));
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn unmappable_claim_refuses_without_reading_secrets() {
        let (service, store) = service(profile());
        let result = service
            .mint_named("connect", visitor(json!({"given_name": {"first": "A"}})))
            .await;
        assert!(matches!(
            result,
            Err(MintError::Claims(ClaimsError::Mapping(
                MappingError::Unconvertible { .. }
            )))
        ));
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn oversized_token_is_refused_naming_the_attribute() {
        let mut p = profile();
        p["attributes"]["bio"] = json!({"claim": "bio"});
        let (service, _) = service(p);
        let result = service
            .mint_named("connect", visitor(json!({"bio": "x".repeat(2500)})))
            .await;
        match result {
            Err(MintError::Claims(ClaimsError::TokenTooLarge {
                length,
                largest_attributes,
            })) => {
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
        let result = service.mint_named("connect", visitor(json!({"sub": long_sub}))).await;
        assert!(matches!(
            result,
            Err(MintError::Claims(ClaimsError::InvalidIdentifier {
                field: "customerId",
                max: 128
            }))
        ));
    }

    #[tokio::test]
    async fn outage_is_a_transient_secret_error() {
        let (service, store) = service(profile());
        store.set_unavailable(true);
        match service.mint_named("connect", visitor(json!({}))).await {
            Err(MintError::Secret(e)) => assert!(e.is_transient()),
            other => panic!("expected a secret error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn placeholder_key_is_never_used_to_sign() {
        let (service, store) = service(profile());
        // Every secret the template creates has its own placeholder under the one prefix.
        for placeholder in [
            PLACEHOLDER_VALUE,
            "REPLACE_WITH_INTERCOM_MESSENGER_SECRET",
            "REPLACE_WITH_",
        ] {
            store.put("connect-key", placeholder);
            let result = service.mint_named("connect", visitor(json!({}))).await;
            assert!(
                matches!(result, Err(MintError::Secret(SecretError::Placeholder { .. }))),
                "{placeholder}: {result:?}"
            );
        }
        // Control: a key that merely mentions the word is a key.
        store.put("connect-key", "key-REPLACE_WITH_nothing");
        assert!(service.mint_named("connect", visitor(json!({}))).await.is_ok());
    }

    #[tokio::test]
    async fn authenticated_segment_is_added_when_configured() {
        let mut p = profile();
        p["mark_authenticated"] = json!(true);
        let (service, _) = service(p);
        let claims = decode(&service.mint_named("connect", visitor(json!({}))).await.unwrap().token);
        assert_eq!(
            claims["segmentAttributes"]["connect:CustomerAuthentication"]["ValueMap"]["Status"]["ValueString"],
            "AUTHENTICATED"
        );
    }

    fn liveperson_profile(customer_info: serde_json::Value, personal: serde_json::Value) -> LivePersonProfileConfig {
        serde_json::from_value(
            json!({"issuer": "https://www.example.com", "token_lifetime_seconds": 600,
                                      "customer_info": customer_info, "personal": personal}),
        )
        .unwrap()
    }

    /// The engagement-attribute fields as LivePerson types them: `currency`, `companyBranch` and
    /// `language` strings, `loginStatus` an integer, `balance` a number taken without any option.
    #[test]
    fn liveperson_fields_reach_lp_sdes_with_their_types() {
        let profile = liveperson_profile(
            json!({"customerId": {"claim": "sub"}, "balance": {"claim": "balance"}, "currency": {"claim": "currency"},
                   "companyBranch": {"claim": "branch"}, "loginStatus": {"claim": "login_status"},
                   "companySize": {"claim": "employees"}}),
            json!({"firstname": {"claim": "given_name"}, "language": {"claim": "locale"}}),
        );
        let identity = visitor(
            json!({"balance": -400.99, "currency": "NOK", "branch": "Oslo sentrum", "login_status": 2,
                                      "employees": 500, "locale": "nb_no"}),
        );
        let claims = serde_json::to_value(liveperson_claims(&profile, &identity, 1_700_000_000).unwrap()).unwrap();
        assert_eq!(
            claims["lp_sdes"],
            json!([
                {"type": "ctmrinfo", "info": {"customerId": "alice", "balance": -400.99, "currency": "NOK",
                    "companyBranch": "Oslo sentrum", "loginStatus": 2, "companySize": 500}},
                {"type": "personal", "personal": {"firstname": "Alice", "language": "nb-NO"}}
            ])
        );
        assert_eq!(
            (claims["iat"].as_u64(), claims["exp"].as_u64()),
            (Some(1_700_000_000), Some(1_700_000_600))
        );
    }

    /// A numeric string is a number only with `convert: scalar` (an API Gateway authorizer
    /// passes every claim as a string); under the default `strict` it is refused.
    #[test]
    fn numeric_strings_need_the_scalar_conversion() {
        let strict = liveperson_profile(
            json!({"balance": {"claim": "balance"}, "loginStatus": {"claim": "login_status"}}),
            json!(null),
        );
        let scalar = liveperson_profile(
            json!({"balance": {"claim": "balance", "convert": "scalar"}, "loginStatus": {"claim": "login_status", "convert": "scalar"}}),
            json!(null),
        );
        let identity = visitor(json!({"balance": "12.5", "login_status": "3"}));
        let refused = MintError::from(liveperson_claims(&strict, &identity, 1).unwrap_err());
        assert!(
            matches!(&refused, MintError::Claims(ClaimsError::Mapping(MappingError::NotANumber { claim, json_type: "string" })) if claim == "balance"),
            "{refused:?}"
        );
        assert_eq!(
            crate::http::ApiError::from(refused).code.as_str(),
            "insufficient_claims"
        );
        let claims = serde_json::to_value(liveperson_claims(&scalar, &identity, 1).unwrap()).unwrap();
        assert_eq!(claims["lp_sdes"][0]["info"], json!({"balance": 12.5, "loginStatus": 3}));
    }

    /// Each field refuses a value of the wrong type or form (403 `insufficient_claims`), and
    /// `if_unconvertible: skip` leaves it out instead.
    #[test]
    fn liveperson_fields_refuse_wrong_values() {
        let info = |field: &str, claim: serde_json::Value| {
            let profile = liveperson_profile(
                json!({"customerId": {"claim": "sub"}, field: {"claim": "x"}}),
                json!(null),
            );
            liveperson_claims(&profile, &visitor(json!({"x": claim})), 1).map_err(MintError::from)
        };
        let not_a = |expected: &'static str| move |e: &MintError| matches!(e, MintError::Claims(ClaimsError::Mapping(MappingError::NotA { expected: got, .. })) if *got == expected);
        let not_a_number = |e: &MintError| {
            matches!(
                e,
                MintError::Claims(ClaimsError::Mapping(MappingError::NotANumber { .. }))
            )
        };
        type Check = Box<dyn Fn(&MintError) -> bool>;
        let cases: Vec<(&str, serde_json::Value, Check)> = vec![
            ("loginStatus", json!(2.5), Box::new(not_a("an integer"))),
            ("loginStatus", json!(1e30), Box::new(not_a("an integer"))),
            ("loginStatus", json!("2"), Box::new(not_a_number)),
            ("loginStatus", json!(true), Box::new(not_a_number)),
            ("loginStatus", json!([2]), Box::new(not_a_number)),
            ("balance", json!("12.5"), Box::new(not_a_number)),
            ("balance", json!({"amount": 1}), Box::new(not_a_number)),
            ("balance", json!(null), Box::new(not_a_number)),
            ("companySize", json!(-1), Box::new(not_a("a whole number"))),
            ("companySize", json!(2.5), Box::new(not_a("a whole number"))),
            (
                "currency",
                json!("usd"),
                Box::new(not_a("an ISO 4217 currency code (three capital letters, e.g. USD)")),
            ),
            (
                "currency",
                json!("US"),
                Box::new(not_a("an ISO 4217 currency code (three capital letters, e.g. USD)")),
            ),
            (
                "currency",
                json!("EURO"),
                Box::new(not_a("an ISO 4217 currency code (three capital letters, e.g. USD)")),
            ),
            (
                "currency",
                json!(978),
                Box::new(|e: &MintError| {
                    matches!(
                        e,
                        MintError::Claims(ClaimsError::Mapping(MappingError::Unconvertible { .. }))
                    )
                }),
            ),
            (
                "companyBranch",
                json!(7),
                Box::new(|e: &MintError| {
                    matches!(
                        e,
                        MintError::Claims(ClaimsError::Mapping(MappingError::Unconvertible { .. }))
                    )
                }),
            ),
        ];
        for (field, value, expected) in cases {
            let error = info(field, value.clone()).unwrap_err();
            assert!(expected(&error), "{field} = {value}: {error:?}");
            assert_eq!(
                crate::http::ApiError::from(error).code.as_str(),
                "insufficient_claims",
                "{field} = {value}"
            );
        }
        for language in [
            json!("en"),
            json!("zh-Hant-TW"),
            json!("eng-USA"),
            json!("e1-US"),
            json!(""),
        ] {
            let profile = liveperson_profile(
                json!(null),
                json!({"firstname": {"claim": "given_name"}, "language": {"claim": "x"}}),
            );
            let error =
                MintError::from(liveperson_claims(&profile, &visitor(json!({"x": language.clone()})), 1).unwrap_err());
            assert!(not_a("a language such as en-US")(&error), "{language}: {error:?}");
        }
        // The control: good values pass, and `skip` leaves a bad one out.
        assert_eq!(
            serde_json::to_value(info("loginStatus", json!(-1)).unwrap()).unwrap()["lp_sdes"][0]["info"]["loginStatus"],
            -1
        );
        let profile = liveperson_profile(
            json!({"customerId": {"claim": "sub"}, "loginStatus": {"claim": "x", "if_unconvertible": "skip"}}),
            json!(null),
        );
        let claims =
            serde_json::to_value(liveperson_claims(&profile, &visitor(json!({"x": "2"})), 1).unwrap()).unwrap();
        assert_eq!(claims["lp_sdes"][0]["info"], json!({"customerId": "alice"}));
    }

    /// The page's body reaches the platform: Freshchat's UUID goes into the token beside the
    /// verified reference_id; a body it does not take is `PageInput` (400 `invalid_request`)
    /// with no secret read; Connect, which takes no page value, mints the verified values whatever
    /// the body says.
    #[tokio::test]
    async fn the_page_reaches_the_platform_and_a_bad_body_reads_no_secret() {
        let (minter, store) = service(json!({"platform": "freshchat", "encryption_key_secret": "connect-key"}));
        let freshchat = minter.profile("connect").unwrap();
        let page = |body: &str| PageInput::from_json(body.as_bytes()).unwrap();
        let uuid = "3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d";
        let good = page(&json!({ "freshchat_uuid": uuid }).to_string());
        let minted = minter.mint(freshchat, visitor(json!({})), &good).await.unwrap();
        let claims = decode(&minted.token);
        assert_eq!(
            (claims["freshchat_uuid"].as_str(), claims["reference_id"].as_str()),
            (Some(uuid), Some("alice"))
        );
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 900);
        assert_eq!(minted.response_body(), json!({"token": minted.token}));

        assert_eq!(store.reads(), 1);
        for body in [
            "{}".to_string(),
            json!({ "freshchat_uuid": uuid.to_uppercase() }).to_string(),
            json!({ "freshchat_uuid": uuid, "reference_id": "mallory" }).to_string(),
        ] {
            let refused = minter
                .mint(freshchat, visitor(json!({})), &page(&body))
                .await
                .unwrap_err();
            assert!(matches!(refused, MintError::PageInput(_)), "{body}: {refused:?}");
            let answer = crate::http::ApiError::from(refused);
            assert_eq!(
                (answer.status().as_u16(), answer.code.as_str()),
                (400, "invalid_request"),
                "{body}"
            );
        }
        assert_eq!(store.reads(), 1, "a refused body costs no secret read");

        let (connect, _) = service(profile());
        let body = page(r#"{"customerId": "mallory", "sub": "mallory", "attributes": {"firstName": "M"}}"#);
        let minted = connect
            .mint(connect.profile("connect").unwrap(), visitor(json!({})), &body)
            .await
            .unwrap();
        let claims = decode(&minted.token);
        assert_eq!(claims["customerId"], "alice");
        assert!(!minted.token.contains("mallory") && !claims.to_string().contains("mallory"));
    }
}
