//! Minting: a verified identity and a profile in, a signed platform token out.
//!
//! The claim policy (masking) is applied first, so no profile ever sees an unmasked national id.
//! Each profile maps the masked claims through its own typed schema and signs: Connect with the
//! widget's security key (HS256), LivePerson and Live Assist with the current key we own (RS256),
//! LivePerson optionally wrapped in a JWE for LivePerson's public key.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::claims::connect::{BoundedId, ConnectClaims};
use crate::claims::live_assist::{CrmContactId, LiveAssistClaims};
use crate::claims::liveperson::{Age, Balance, Contact, Currency, CustomerInfo, Gender, Language, LivePersonClaims, Personal, SdeDate};
use crate::clock::{Clock, civil_date};
use crate::config::{
    ConfigError, ConnectProfileConfig, CustomerInfoMapping, LiveAssistProfileConfig, LivePersonProfileConfig,
    PersonalMapping, ProfileConfig, ProfileName, ServiceConfig,
};
use crate::values::VerifiedClaims;
use crate::jwe::{JweError, JweRecipient};
use crate::keys::{KeyChoice, KeyError, PinName, SigningKeys};
use crate::mapping::{ClaimPolicy, ClaimRule, MappingError};
use crate::secrets::{PLACEHOLDER_VALUE, SecretError, SecretStore};
use crate::signing::{SigningAlgorithm, SigningError, sign_hs256_jwt};

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
    #[error("the `{claim}` claim is not a CRM contact GUID")]
    NotACrmContactId { claim: String },
    #[error("the token would be {length} characters, over Connect's {CONNECT_MAX_TOKEN_CHARS}; largest attributes: {}", largest_attributes.join(", "))]
    TokenTooLarge { length: usize, largest_attributes: Vec<String> },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Encryption(#[from] JweError),
}

/// How the page's callback expects the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseShape {
    /// Amazon Connect's snippet: `callback(data.data)`.
    Data,
    /// LivePerson's `lpGetAuthenticationToken` and Live Assist's `authoriseChatWithCallback`:
    /// `callback(body.token)`.
    Token,
}

/// A freshly signed token and what the logs may say about it.
#[derive(Debug)]
pub struct MintedToken {
    pub token: String,
    pub expires_at: u64,
    /// The secret version or `kid` that signed it (an id, not a value).
    pub key_version: Option<String>,
    pub shape: ResponseShape,
}

impl MintedToken {
    /// The body the page's callback expects.
    pub fn response_body(&self) -> serde_json::Value {
        match self.shape {
            ResponseShape::Data => serde_json::json!({ "data": self.token }),
            ResponseShape::Token => serde_json::json!({ "token": self.token }),
        }
    }
}

/// A profile with everything derivable at cold start already derived.
enum Profile {
    Connect(ConnectProfileConfig),
    LivePerson { config: Box<LivePersonProfileConfig>, encryption: Option<JweRecipient>, key: KeyChoice },
    LiveAssist { config: LiveAssistProfileConfig, key: KeyChoice },
}

pub struct MintService {
    profiles: BTreeMap<ProfileName, Profile>,
    policy: ClaimPolicy,
    secrets: Arc<dyn SecretStore>,
    signing_keys: Option<Arc<SigningKeys>>,
    clock: Arc<dyn Clock>,
}

/// The JWE recipient a LivePerson profile's id_tokens are wrapped for, if it has one: parsed once,
/// at cold start, by the implicit flow (`/token/{profile}`) and the code flow (the provider).
pub fn liveperson_recipient(name: &ProfileName, profile: &LivePersonProfileConfig) -> Result<Option<JweRecipient>, ConfigError> {
    let Some(encryption) = &profile.encryption else { return Ok(None) };
    JweRecipient::from_public_key(&encryption.public_key, encryption.alg, encryption.enc, encryption.kid.clone())
        .map(Some)
        .map_err(|error| ConfigError::Setting { setting: format!("profiles.{name}.encryption.public_key"), reason: error.to_string() })
}

impl MintService {
    /// Prepares every profile (LivePerson's encryption key is parsed here, once).
    pub fn new(config: &ServiceConfig, secrets: Arc<dyn SecretStore>, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let mut profiles = BTreeMap::new();
        for (name, profile) in &config.profiles {
            let prepared = match profile {
                ProfileConfig::AmazonConnect(connect) => Profile::Connect(connect.clone()),
                ProfileConfig::LiveAssist(live_assist) => Profile::LiveAssist {
                    config: live_assist.clone(),
                    key: profile.key_choice(name).unwrap_or_else(|| KeyChoice::Pinned(PinName::from_profile(name))),
                },
                ProfileConfig::LivePerson(liveperson) if liveperson.implicit_flow => Profile::LivePerson {
                    config: liveperson.clone(),
                    encryption: liveperson_recipient(name, liveperson)?,
                    key: profile.key_choice(name).unwrap_or(KeyChoice::Rotating(SigningAlgorithm::RS256)),
                },
                // For the OpenID provider's LivePerson client only.
                ProfileConfig::LivePerson(_) => continue,
                // Served by the OpenID provider only: not a `/token/{profile}` profile.
                ProfileConfig::OpenIdConnect(_) => continue,
            };
            profiles.insert(name.clone(), prepared);
        }
        let signing_keys = config.signing_keys.as_ref().map(|k| Arc::new(SigningKeys::new(secrets.clone(), k.secret.clone())));
        Ok(Self { profiles, policy: config.claim_policy.clone(), secrets, signing_keys, clock })
    }

    pub fn has_profile(&self, name: &str) -> bool {
        ProfileName::parse(name).is_some_and(|n| self.profiles.contains_key(&n))
    }

    /// The signing keys we own, when configured (the JWKS endpoint serves them).
    pub fn signing_keys(&self) -> Option<&Arc<SigningKeys>> {
        self.signing_keys.as_ref()
    }

    /// Mints a fresh token on every call (a token fetched earlier and reused expires).
    pub async fn mint(&self, profile: &str, identity: VerifiedClaims) -> Result<MintedToken, MintError> {
        let prepared = ProfileName::parse(profile)
            .and_then(|name| self.profiles.get(&name))
            .ok_or_else(|| MintError::UnknownProfile(profile.to_string()))?;
        let identity = self.policy.apply(identity);
        let now = self.clock.now_unix();
        match prepared {
            Profile::Connect(connect) => self.mint_connect(connect, &identity, now).await,
            Profile::LivePerson { config, encryption, key } => {
                self.mint_liveperson(config, encryption.as_ref(), key, &identity, now).await
            }
            Profile::LiveAssist { config, key } => self.mint_live_assist(config, key, &identity, now).await,
        }
    }

    async fn mint_connect(&self, profile: &ConnectProfileConfig, identity: &VerifiedClaims, now: u64) -> Result<MintedToken, MintError> {
        // Map first: a visitor who cannot get a token costs no secret read.
        let claims = connect_claims(profile, identity, now)?;
        let key = self.secrets.get(&profile.security_key_secret).await?;
        if key.value.expose() == PLACEHOLDER_VALUE {
            crate::metrics::pasted_key_missing();
            return Err(SecretError::Placeholder { name: profile.security_key_secret.clone() }.into());
        }
        let token = sign_hs256_jwt(&claims, &key.value)?;
        if token.len() > CONNECT_MAX_TOKEN_CHARS {
            return Err(MintError::TokenTooLarge { length: token.len(), largest_attributes: largest_attributes(&claims) });
        }
        Ok(MintedToken { token, expires_at: claims.exp, key_version: key.version.clone(), shape: ResponseShape::Data })
    }

    async fn mint_liveperson(
        &self,
        profile: &LivePersonProfileConfig,
        encryption: Option<&JweRecipient>,
        key: &KeyChoice,
        identity: &VerifiedClaims,
        now: u64,
    ) -> Result<MintedToken, MintError> {
        let claims = liveperson_claims(profile, identity, now)?;
        let signer = self.keys()?.ring().await?.signer_for(key)?;
        let signed = signer.sign_jwt(&claims)?;
        let token = match encryption {
            Some(recipient) => recipient.encrypt_jwt(&signed)?,
            None => signed,
        };
        Ok(MintedToken { token, expires_at: claims.exp, key_version: Some(signer.kid().to_string()), shape: ResponseShape::Token })
    }

    async fn mint_live_assist(
        &self,
        profile: &LiveAssistProfileConfig,
        key: &KeyChoice,
        identity: &VerifiedClaims,
        now: u64,
    ) -> Result<MintedToken, MintError> {
        let claims = live_assist_claims(profile, identity, now)?;
        let signer = self.keys()?.ring().await?.signer_for(key)?;
        let token = signer.sign_jwt(&claims)?;
        Ok(MintedToken { token, expires_at: claims.exp, key_version: Some(signer.kid().to_string()), shape: ResponseShape::Token })
    }

    fn keys(&self) -> Result<&SigningKeys, MintError> {
        // Config validation requires signing_keys for these profiles; this is a belt to its braces.
        self.signing_keys.as_deref().ok_or(MintError::Keys(KeyError::NotInitialized))
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

fn text(rule: Option<&ClaimRule>, identity: &VerifiedClaims) -> Result<Option<String>, MappingError> {
    rule.map(|r| r.apply(identity)).transpose().map(Option::flatten)
}

fn typed<T>(
    rule: Option<&ClaimRule>,
    identity: &VerifiedClaims,
    expected: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, MappingError> {
    rule.map(|r| r.apply_as(identity, expected, parse)).transpose().map(Option::flatten)
}

/// A numeric field: a JSON number as it is, a numeric string only with `convert: scalar`.
fn number<T>(
    rule: Option<&ClaimRule>,
    identity: &VerifiedClaims,
    expected: &'static str,
    from_number: impl FnOnce(&serde_json::Number) -> Option<T>,
    from_text: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, MappingError> {
    rule.map(|r| r.apply_number(identity, expected, from_number, from_text)).transpose().map(Option::flatten)
}

/// Builds LivePerson's id_token claims (standard claims and `lp_sdes`).
pub fn liveperson_claims(profile: &LivePersonProfileConfig, identity: &VerifiedClaims, now: u64) -> Result<LivePersonClaims, MintError> {
    let sub = profile
        .subject
        .apply(identity)?
        .ok_or_else(|| MappingError::MissingClaim { claim: profile.subject.claim.clone() })?;
    let mut claims = LivePersonClaims::new(&profile.issuer, sub, now, now + profile.token_lifetime_seconds);
    let standard = &profile.claims;
    claims.given_name = text(standard.given_name.as_ref(), identity)?;
    claims.family_name = text(standard.family_name.as_ref(), identity)?;
    claims.email = text(standard.email.as_ref(), identity)?;
    claims.phone_number = text(standard.phone_number.as_ref(), identity)?;
    claims.gender = text(standard.gender.as_ref(), identity)?;
    claims.preferred_username = text(standard.preferred_username.as_ref(), identity)?;
    if let Some(mapping) = &profile.customer_info {
        claims.add_customer_info(customer_info(mapping, identity)?);
    }
    if let Some(mapping) = &profile.personal {
        claims.add_personal(personal(mapping, identity, now)?);
    }
    Ok(claims)
}

fn customer_info(m: &CustomerInfoMapping, identity: &VerifiedClaims) -> Result<CustomerInfo, MappingError> {
    Ok(CustomerInfo {
        cstatus: text(m.cstatus.as_ref(), identity)?,
        ctype: text(m.ctype.as_ref(), identity)?,
        customer_id: text(m.customer_id.as_ref(), identity)?,
        balance: number(m.balance.as_ref(), identity, "a finite number", |n| n.as_f64().and_then(Balance::new), Balance::parse)?,
        currency: typed(m.currency.as_ref(), identity, "an ISO 4217 currency code (three capital letters, e.g. USD)", Currency::parse)?,
        social_id: text(m.social_id.as_ref(), identity)?,
        imei: text(m.imei.as_ref(), identity)?,
        user_name: text(m.user_name.as_ref(), identity)?,
        company_size: number(m.company_size.as_ref(), identity, "a whole number", serde_json::Number::as_u64, |s| s.trim().parse().ok())?,
        company_branch: text(m.company_branch.as_ref(), identity)?,
        account_name: text(m.account_name.as_ref(), identity)?,
        role: text(m.role.as_ref(), identity)?,
        last_payment_date: typed(m.last_payment_date.as_ref(), identity, "a YYYY-MM-DD date", SdeDate::parse_iso)?,
        registration_date: typed(m.registration_date.as_ref(), identity, "a YYYY-MM-DD date", SdeDate::parse_iso)?,
        login_status: number(m.login_status.as_ref(), identity, "an integer", serde_json::Number::as_i64, |s| s.trim().parse().ok())?,
    })
}

fn personal(m: &PersonalMapping, identity: &VerifiedClaims, now: u64) -> Result<Personal, MappingError> {
    let today = civil_date(now);
    let email = text(m.email.as_ref(), identity)?;
    let phone = text(m.phone.as_ref(), identity)?;
    let contacts = if email.is_some() || phone.is_some() { vec![Contact { email, phone }] } else { Vec::new() };
    Ok(Personal {
        firstname: text(m.firstname.as_ref(), identity)?,
        lastname: text(m.lastname.as_ref(), identity)?,
        age: typed(m.age.as_ref(), identity, "a YYYY-MM-DD birth date", |s| {
            SdeDate::parse_iso(s).and_then(|birth| Age::from_birthdate(birth, today))
        })?,
        contacts,
        // Values other than male/female are not sent (LivePerson has no other value).
        gender: text(m.gender.as_ref(), identity)?.as_deref().and_then(Gender::from_claim),
        company: text(m.company.as_ref(), identity)?,
        language: typed(m.language.as_ref(), identity, "a language such as en-US", Language::parse)?,
    })
}

/// Builds Live Assist's claims; refuses a visitor without a CRM contact GUID.
pub fn live_assist_claims(profile: &LiveAssistProfileConfig, identity: &VerifiedClaims, now: u64) -> Result<LiveAssistClaims, MintError> {
    let claim = &profile.crm_contact_id_claim;
    let raw = match identity.get(claim) {
        Some(serde_json::Value::String(value)) => value,
        Some(_) => return Err(MintError::NotACrmContactId { claim: claim.clone() }),
        None => return Err(MappingError::MissingClaim { claim: claim.clone() }.into()),
    };
    let sub = CrmContactId::parse(raw).ok_or_else(|| MintError::NotACrmContactId { claim: claim.clone() })?;
    Ok(LiveAssistClaims {
        sub,
        given_name: text(profile.given_name.as_ref(), identity)?,
        family_name: text(profile.family_name.as_ref(), identity)?,
        iss: profile.issuer.clone(),
        iat: now,
        exp: now + profile.token_lifetime_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::adapters::InMemorySecretStore;
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
        (MintService::new(&config, store.clone(), Arc::new(FixedClock::at(1_700_000_000))).unwrap(), store)
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
        let minted = service.mint("connect", visitor(json!({}))).await.unwrap();
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
        let refused = service.mint("liveperson-code", visitor(json!({}))).await;
        assert!(matches!(refused, Err(MintError::UnknownProfile(_))));
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn unknown_profile_is_refused_without_reading_secrets() {
        let (service, store) = service(profile());
        let result = service.mint("other", visitor(json!({}))).await;
        assert!(matches!(result, Err(MintError::UnknownProfile(_))));
        assert!(matches!(service.mint("../connect", visitor(json!({}))).await, Err(MintError::UnknownProfile(_))));
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn unmappable_claim_refuses_without_reading_secrets() {
        let (service, store) = service(profile());
        let result = service.mint("connect", visitor(json!({"given_name": {"first": "A"}}))).await;
        assert!(matches!(result, Err(MintError::Mapping(MappingError::Unconvertible { .. }))));
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn oversized_token_is_refused_naming_the_attribute() {
        let mut p = profile();
        p["attributes"]["bio"] = json!({"claim": "bio"});
        let (service, _) = service(p);
        let result = service.mint("connect", visitor(json!({"bio": "x".repeat(2500)}))).await;
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
        let result = service.mint("connect", visitor(json!({"sub": long_sub}))).await;
        assert!(matches!(result, Err(MintError::InvalidIdentifier { field: "customerId", max: 128 })));
    }

    #[tokio::test]
    async fn outage_is_a_transient_secret_error() {
        let (service, store) = service(profile());
        store.set_unavailable(true);
        match service.mint("connect", visitor(json!({}))).await {
            Err(MintError::Secret(e)) => assert!(e.is_transient()),
            other => panic!("expected a secret error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn placeholder_key_is_never_used_to_sign() {
        let (service, store) = service(profile());
        store.put("connect-key", PLACEHOLDER_VALUE);
        let result = service.mint("connect", visitor(json!({}))).await;
        assert!(matches!(result, Err(MintError::Secret(SecretError::Placeholder { .. }))), "{result:?}");
    }

    #[tokio::test]
    async fn authenticated_segment_is_added_when_configured() {
        let mut p = profile();
        p["mark_authenticated"] = json!(true);
        let (service, _) = service(p);
        let claims = decode(&service.mint("connect", visitor(json!({}))).await.unwrap().token);
        assert_eq!(
            claims["segmentAttributes"]["connect:CustomerAuthentication"]["ValueMap"]["Status"]["ValueString"],
            "AUTHENTICATED"
        );
    }

    fn liveperson_profile(customer_info: serde_json::Value, personal: serde_json::Value) -> LivePersonProfileConfig {
        serde_json::from_value(json!({"issuer": "https://www.example.com", "token_lifetime_seconds": 600,
                                      "customer_info": customer_info, "personal": personal}))
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
        let identity = visitor(json!({"balance": -400.99, "currency": "NOK", "branch": "Oslo sentrum", "login_status": 2,
                                      "employees": 500, "locale": "nb_no"}));
        let claims = serde_json::to_value(liveperson_claims(&profile, &identity, 1_700_000_000).unwrap()).unwrap();
        assert_eq!(claims["lp_sdes"], json!([
            {"type": "ctmrinfo", "info": {"customerId": "alice", "balance": -400.99, "currency": "NOK",
                "companyBranch": "Oslo sentrum", "loginStatus": 2, "companySize": 500}},
            {"type": "personal", "personal": {"firstname": "Alice", "language": "nb-NO"}}
        ]));
        assert_eq!((claims["iat"].as_u64(), claims["exp"].as_u64()), (Some(1_700_000_000), Some(1_700_000_600)));
    }

    /// A numeric string is a number only with `convert: scalar` (an API Gateway authorizer
    /// passes every claim as a string); under the default `strict` it is refused.
    #[test]
    fn numeric_strings_need_the_scalar_conversion() {
        let strict = liveperson_profile(json!({"balance": {"claim": "balance"}, "loginStatus": {"claim": "login_status"}}), json!(null));
        let scalar = liveperson_profile(
            json!({"balance": {"claim": "balance", "convert": "scalar"}, "loginStatus": {"claim": "login_status", "convert": "scalar"}}),
            json!(null),
        );
        let identity = visitor(json!({"balance": "12.5", "login_status": "3"}));
        let refused = liveperson_claims(&strict, &identity, 1).unwrap_err();
        assert!(matches!(&refused, MintError::Mapping(MappingError::NotANumber { claim, json_type: "string" }) if claim == "balance"), "{refused:?}");
        assert_eq!(crate::http::ApiError::from(refused).code.as_str(), "insufficient_claims");
        let claims = serde_json::to_value(liveperson_claims(&scalar, &identity, 1).unwrap()).unwrap();
        assert_eq!(claims["lp_sdes"][0]["info"], json!({"balance": 12.5, "loginStatus": 3}));
    }

    /// Each field refuses a value of the wrong type or form (403 `insufficient_claims`), and
    /// `if_unconvertible: skip` leaves it out instead.
    #[test]
    fn liveperson_fields_refuse_wrong_values() {
        let info = |field: &str, claim: serde_json::Value| {
            let profile = liveperson_profile(json!({"customerId": {"claim": "sub"}, field: {"claim": "x"}}), json!(null));
            liveperson_claims(&profile, &visitor(json!({"x": claim})), 1)
        };
        let not_a = |expected: &'static str| move |e: &MintError| matches!(e, MintError::Mapping(MappingError::NotA { expected: got, .. }) if *got == expected);
        let not_a_number = |e: &MintError| matches!(e, MintError::Mapping(MappingError::NotANumber { .. }));
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
            ("currency", json!("usd"), Box::new(not_a("an ISO 4217 currency code (three capital letters, e.g. USD)"))),
            ("currency", json!("US"), Box::new(not_a("an ISO 4217 currency code (three capital letters, e.g. USD)"))),
            ("currency", json!("EURO"), Box::new(not_a("an ISO 4217 currency code (three capital letters, e.g. USD)"))),
            ("currency", json!(978), Box::new(|e: &MintError| matches!(e, MintError::Mapping(MappingError::Unconvertible { .. })))),
            ("companyBranch", json!(7), Box::new(|e: &MintError| matches!(e, MintError::Mapping(MappingError::Unconvertible { .. })))),
        ];
        for (field, value, expected) in cases {
            let error = info(field, value.clone()).unwrap_err();
            assert!(expected(&error), "{field} = {value}: {error:?}");
            assert_eq!(crate::http::ApiError::from(error).code.as_str(), "insufficient_claims", "{field} = {value}");
        }
        for language in [json!("en"), json!("zh-Hant-TW"), json!("eng-USA"), json!("e1-US"), json!("")] {
            let profile = liveperson_profile(json!(null), json!({"firstname": {"claim": "given_name"}, "language": {"claim": "x"}}));
            let error = liveperson_claims(&profile, &visitor(json!({"x": language.clone()})), 1).unwrap_err();
            assert!(not_a("a language such as en-US")(&error), "{language}: {error:?}");
        }
        // The control: good values pass, and `skip` leaves a bad one out.
        assert_eq!(serde_json::to_value(info("loginStatus", json!(-1)).unwrap()).unwrap()["lp_sdes"][0]["info"]["loginStatus"], -1);
        let profile = liveperson_profile(json!({"customerId": {"claim": "sub"}, "loginStatus": {"claim": "x", "if_unconvertible": "skip"}}), json!(null));
        let claims = serde_json::to_value(liveperson_claims(&profile, &visitor(json!({"x": "2"})), 1).unwrap()).unwrap();
        assert_eq!(claims["lp_sdes"][0]["info"], json!({"customerId": "alice"}));
    }
}
