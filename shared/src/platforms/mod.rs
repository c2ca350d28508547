//! The chat platforms: one module each, and the registry that maps a profile's `platform` to it.
//!
//! A platform module holds its config section (a serde struct that checks itself at cold start),
//! its claim schema (typed structs whose `Debug` prints no personal value), how it builds those
//! claims from the verified visitor, its key kind and its response shape. Everything here is pure:
//! the mint service, the OpenID provider and the config loader ask through [`Platform`] and never
//! name a platform, so adding one is its module plus one line in [`platforms!`] below
//! (`docs/ARCHITECTURE.md`, "Platforms").

pub mod amazon_connect;
pub mod ccai_platform;
pub mod d365_omnichannel;
pub mod freshchat;
pub mod intercom;
pub mod live_assist;
pub mod liveperson;
pub mod openid_connect;
pub mod salesforce_miaw;
pub mod zendesk;

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::mapping::{ClaimRule, MappingError, OnProblem};
use crate::values::PinName;
use crate::values::SecretName;
use crate::values::SigningAlgorithm;
use crate::values::VerifiedClaims;
use crate::values::{PageInput, PageInputError};

pub use liveperson::EncryptionConfig;

/// The registry: `"<platform kind>" => Variant(module::ProfileType)`, one line per platform. It
/// generates [`ProfileConfig`] (the `platform`-tagged config section) and its one dispatch,
/// [`ProfileConfig::platform`].
macro_rules! platforms {
    ($($kind:literal => $variant:ident($profile:ty),)+) => {
        /// A token profile: which platform, and its settings (`profiles.<name>` in the document).
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "platform")]
        pub enum ProfileConfig {
            $(#[serde(rename = $kind)] $variant(Box<$profile>),)+
        }

        impl ProfileConfig {
            /// The platform behind this profile: every question about it goes through here.
            pub fn platform(&self) -> &dyn Platform {
                match self {
                    $(ProfileConfig::$variant(profile) => profile.as_ref(),)+
                }
            }

            /// The `platform` value that selects this profile's platform.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(ProfileConfig::$variant(_) => $kind,)+
                }
            }
        }
    };
}

platforms! {
    "amazon-connect" => AmazonConnect(amazon_connect::ConnectProfileConfig),
    "liveperson" => LivePerson(liveperson::LivePersonProfileConfig),
    "live-assist" => LiveAssist(live_assist::LiveAssistProfileConfig),
    // Only for clients of the OpenID provider (Puzzel, Genesys), not `/token/{profile}`.
    "openid-connect" => OpenIdConnect(openid_connect::OpenIdClaimsProfileConfig),
    "zendesk-messaging" => ZendeskMessaging(zendesk::ZendeskProfileConfig),
    "intercom" => Intercom(intercom::IntercomProfileConfig),
    "ccai-platform" => CcaiPlatform(ccai_platform::CcaiProfileConfig),
    "salesforce-miaw" => SalesforceMiaw(salesforce_miaw::SalesforceProfileConfig),
    "d365-omnichannel" => D365Omnichannel(d365_omnichannel::D365ProfileConfig),
    "freshchat" => Freshchat(freshchat::FreshchatProfileConfig),
}

/// What one platform is: asked by the config loader (cold start), the mint service and the
/// OpenID provider. Pure: no I/O, no keys, no clock (the time comes in as `now`).
pub trait Platform: fmt::Debug + Send + Sync {
    /// The checks serde's types cannot make; run once at cold start.
    fn validate(&self) -> Result<(), SettingError>;

    /// Which key signs this profile's tokens.
    fn key(&self) -> KeyKind;

    /// The JWE this profile's tokens are wrapped in, when it has one (LivePerson's public key).
    fn encryption(&self) -> Option<&EncryptionConfig> {
        None
    }

    /// `/token/{profile}`: `None` when this profile is not served there.
    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint>;

    /// The OpenID provider's view, for a profile a provider client may name (`None`: it may not).
    fn provider_client(&self) -> Option<&dyn ProviderClient> {
        None
    }

    /// How `GET /public-key/{profile}` presents this profile's key (for a key we own).
    fn public_key_format(&self) -> PublicKeyFormat {
        PublicKeyFormat::SpkiBase64
    }
}

/// How `GET /public-key/{profile}` presents the profile's key for the vendor's console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyFormat {
    /// Single-line base64 SPKI (a PEM body without its lines): LivePerson's and Live Assist's paste format.
    SpkiBase64,
    /// One JWK `{kty, kid, alg, use, n, e, x5c}` with a self-signed certificate of the key:
    /// what a Salesforce keyset takes, one key per upload.
    SalesforceJwk,
    /// Dynamics 365's public-key URL: the PEM text when exactly one key is live, otherwise a JSON
    /// array of `{"kid", "publicKey": <base64 of the PEM text>, "expiry": <Unix seconds>}` holding
    /// every key a token may name (current, next, previous).
    D365KeyList,
}

/// A platform served at `/token/{profile}`: its claims and how the page's callback wants them.
pub trait TokenEndpoint: Send + Sync {
    fn shape(&self) -> ResponseShape;

    /// The token's claims for this (already masked) visitor. Refusals come before any key is read.
    /// `page` is the request body's JSON object (empty without a body): untrusted, never a source
    /// of identity. A platform that takes no page value ignores it; one that does (Freshchat's
    /// widget UUID) refuses a body with any other member, and a bad value, as
    /// [`ClaimsError::Page`].
    fn claims(
        &self,
        identity: &VerifiedClaims,
        page: &PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError>;
}

/// A platform whose claims reach its servers through our OpenID provider (id_token, userinfo).
pub trait ProviderClient: Send + Sync {
    /// `sub` and the profile's claims, as the grant stores them; the provider adds `iss`, `aud`,
    /// `iat`, `exp` and the protocol claims itself.
    fn claims(&self, identity: &VerifiedClaims, now: u64) -> Result<Map<String, Value>, ClaimsError>;

    /// Whether standard claims follow the granted scopes (OIDC Core 5.4). `false`: the claims
    /// are the platform's contract and are all released (LivePerson's `lp_sdes`).
    fn scoped(&self) -> bool;

    /// The claim names this profile can release (discovery's `claims_supported`).
    fn claim_names(&self) -> Vec<&str>;

    /// Checks a client's `claims_without_scope` against this profile; the reason on refusal.
    fn check_claims_without_scope(&self, names: &[String], profile: &str) -> Result<(), String>;

    /// `(output claim, login claim)` pairs for Puzzel's `authMapping`; `None`: no authMapping.
    fn carried_claims(&self) -> Option<Vec<(&str, &str)>> {
        None
    }
}

/// One platform's typed claims, ready to sign.
pub trait PlatformClaims: fmt::Debug + Send + Sync {
    fn expires_at(&self) -> u64;

    /// The JSON payload, serialized once from the typed schema (its field order is the wire's).
    fn payload(&self) -> Result<Box<RawValue>, serde_json::Error>;

    /// A check on the signed token (Connect's size limit).
    fn check_signed(&self, _token: &str) -> Result<(), ClaimsError> {
        Ok(())
    }
}

/// Which key signs a profile's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A key the vendor issues and the operator pastes into this secret (Connect's security key):
    /// HS256 over the UTF-8 bytes of the value.
    Pasted(SecretName),
    /// A vendor-issued HMAC secret stored with its key id, as `{"kid": ..., "secret": ...}`
    /// (Zendesk): HS256 over the UTF-8 bytes of `secret`, with `kid` in the header.
    PastedWithKid(SecretName),
    /// Our rotating key of this algorithm, which the platform fetches from our JWKS URL.
    Rotating(SigningAlgorithm),
    /// One pasted-key slot of ours (a console that holds one pasted public key); `None`: the
    /// slot named after the profile.
    Pinned(Option<PinName>),
    /// The OpenID provider's rotating key (found through discovery); not the profile's own.
    Provider,
}

/// How the page's callback expects the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseShape {
    /// Amazon Connect's snippet: `callback(data.data)`.
    Data,
    /// LivePerson's `lpGetAuthenticationToken` and Live Assist's `authoriseChatWithCallback`:
    /// `callback(body.token)`.
    Token,
    /// The token itself as the body (`application/jwt`): Dynamics 365's `getAuthenticationToken`
    /// sample passes the response text as is to the widget's callback.
    Bare,
}

impl ResponseShape {
    /// The body the page's callback expects.
    pub fn body(self, token: &str) -> Value {
        match self {
            ResponseShape::Data => serde_json::json!({ "data": token }),
            ResponseShape::Token => serde_json::json!({ "token": token }),
            // Served as the text itself (the handler answers with the token, not this JSON).
            ResponseShape::Bare => serde_json::Value::String(token.to_string()),
        }
    }
}

/// Why a visitor's claims make no token (the mint service's 403 `insufficient_claims` or 422 `token_too_large`).
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("the `{field}` value must be 1-{max} characters")]
    InvalidIdentifier { field: &'static str, max: usize },
    #[error("the `{claim}` claim is not a CRM contact GUID")]
    NotACrmContactId { claim: String },
    #[error("the token would be {length} characters, over Connect's {}; largest attributes: {}",
        amazon_connect::CONNECT_MAX_TOKEN_CHARS, largest_attributes.join(", "))]
    TokenTooLarge {
        length: usize,
        largest_attributes: Vec<String>,
    },
    /// The typed claims did not serialize (not the visitor's fault: a 500).
    #[error("the claims could not be serialized")]
    Serialize(#[source] serde_json::Error),
    /// The page's body is not what the platform takes (the caller's mistake: 400
    /// `invalid_request`, not the visitor's claims).
    #[error(transparent)]
    Page(#[from] PageInputError),
}

/// A profile setting that is wrong; the config loader prefixes `profiles.<name>.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The field under the profile (`issuer`, `claims.iss`).
    pub field: String,
    pub reason: String,
}

impl SettingError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The typed payload of `claims`, for [`PlatformClaims::payload`].
pub(crate) fn payload_of<T: serde::Serialize>(claims: &T) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(claims)
}

/// `sub` from the login's `sub`, refused when missing (the default subject rule).
pub(crate) fn subject_from_sub() -> ClaimRule {
    ClaimRule {
        if_missing: OnProblem::Refuse,
        ..ClaimRule::from_claim("sub")
    }
}

pub(crate) fn text(rule: Option<&ClaimRule>, identity: &VerifiedClaims) -> Result<Option<String>, MappingError> {
    rule.map(|r| r.apply(identity)).transpose().map(Option::flatten)
}

pub(crate) fn typed<T>(
    rule: Option<&ClaimRule>,
    identity: &VerifiedClaims,
    expected: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, MappingError> {
    rule.map(|r| r.apply_as(identity, expected, parse))
        .transpose()
        .map(Option::flatten)
}

/// A numeric field: a JSON number as it is, a numeric string only with `convert: scalar`.
pub(crate) fn number<T>(
    rule: Option<&ClaimRule>,
    identity: &VerifiedClaims,
    expected: &'static str,
    from_number: impl FnOnce(&serde_json::Number) -> Option<T>,
    from_text: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, MappingError> {
    rule.map(|r| r.apply_number(identity, expected, from_number, from_text))
        .transpose()
        .map(Option::flatten)
}

/// Prints a value's place in `Debug` without the value (claims carry personal data).
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `Debug` for a claim struct: its name and field names, each value `[redacted]` (or `None`
/// when an `Option` is empty); the fields after `;` are printed (times, not personal).
macro_rules! redacted_debug {
    ($type:ident { $($field:ident),* $(; $($shown:ident),*)? }) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut out = f.debug_struct(stringify!($type));
                $(out.field(stringify!($field), &crate::platforms::Presence::presence(&self.$field));)*
                $($(out.field(stringify!($shown), &self.$shown);)*)?
                out.finish()
            }
        }
    };
}
pub(crate) use redacted_debug;

/// Whether a field holds a value, for [`redacted_debug!`].
pub(crate) trait Presence {
    fn presence(&self) -> Box<dyn fmt::Debug + '_>;
}

impl<T> Presence for Option<T> {
    fn presence(&self) -> Box<dyn fmt::Debug + '_> {
        match self {
            Some(_) => Box::new(Some(Redacted)),
            None => Box::new(None::<Redacted>),
        }
    }
}

macro_rules! always_redacted {
    ($($type:ty),*) => {
        $(impl Presence for $type {
            fn presence(&self) -> Box<dyn fmt::Debug + '_> {
                Box::new(Redacted)
            }
        })*
    };
}
always_redacted!(String, live_assist::CrmContactId);

impl<T> Presence for Vec<T> {
    fn presence(&self) -> Box<dyn fmt::Debug + '_> {
        Box::new(self.iter().map(|_| Redacted).collect::<Vec<_>>())
    }
}

impl<K: fmt::Debug, V> Presence for std::collections::BTreeMap<K, V> {
    /// The names (config-chosen, not personal), each value redacted.
    fn presence(&self) -> Box<dyn fmt::Debug + '_> {
        Box::new(DebugKeys(self))
    }
}

struct DebugKeys<'a, K, V>(&'a std::collections::BTreeMap<K, V>);

impl<K: fmt::Debug, V> fmt::Debug for DebugKeys<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, Redacted))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One profile of each registered platform: it parses under its `platform` value, names that
    /// value back, validates, and says where it is served. A registry line that names the wrong
    /// module or value fails here.
    #[test]
    fn every_registered_platform_parses_validates_and_dispatches() {
        let profiles = [
            json!({"platform": "amazon-connect", "widget_id": "w-1", "security_key_secret": "k",
                   "token_lifetime_seconds": 500}),
            json!({"platform": "liveperson", "issuer": "https://www.example.com", "token_lifetime_seconds": 600}),
            json!({"platform": "live-assist", "issuer": "www.example.com", "token_lifetime_seconds": 600,
                   "crm_contact_id_claim": "crm"}),
            json!({"platform": "openid-connect", "claims": {"name": {"claim": "name"}}}),
            json!({"platform": "intercom", "api_secret": "k", "token_lifetime_seconds": 7200}),
            json!({"platform": "ccai-platform", "company_name": "Example Bank", "company_secret_secret": "k",
                   "token_lifetime_seconds": 3600}),
            json!({"platform": "zendesk-messaging", "key_secret": "whoscalling/zendesk-key"}),
            json!({"platform": "salesforce-miaw", "issuer": "https://chat.example.com"}),
            json!({"platform": "d365-omnichannel", "issuer": "www.example.com"}),
            json!({"platform": "freshchat", "encryption_key_secret": "whoscalling/freshchat-key"}),
        ];
        let mut served = Vec::new();
        for document in profiles {
            let profile: ProfileConfig = serde_json::from_value(document.clone()).unwrap();
            assert_eq!(profile.kind(), document["platform"], "{document}");
            assert_eq!(profile.platform().validate(), Ok(()), "{document}");
            let platform = profile.platform();
            let shape = platform.token_endpoint().map(|e| e.shape());
            served.push((profile.kind(), shape, platform.provider_client().is_some()));
        }
        assert_eq!(
            served,
            [
                ("amazon-connect", Some(ResponseShape::Data), false),
                ("liveperson", Some(ResponseShape::Token), true),
                ("live-assist", Some(ResponseShape::Token), false),
                ("openid-connect", None, true),
                ("intercom", Some(ResponseShape::Token), false),
                ("ccai-platform", Some(ResponseShape::Token), false),
                ("zendesk-messaging", Some(ResponseShape::Token), false),
                ("salesforce-miaw", Some(ResponseShape::Token), false),
                ("d365-omnichannel", Some(ResponseShape::Bare), false),
                ("freshchat", Some(ResponseShape::Token), false),
            ]
        );
        let unknown = serde_json::from_value::<ProfileConfig>(json!({"platform": "zendesk"}))
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown variant `zendesk`"), "{unknown}");
    }

    #[test]
    fn a_setting_error_names_the_field_under_the_profile() {
        let document = json!({"platform": "openid-connect", "claims": {"iss": {"claim": "x"}}});
        let profile: ProfileConfig = serde_json::from_value(document).unwrap();
        let expected = SettingError::new("claims.iss", "is set by the provider itself");
        assert_eq!(profile.platform().validate(), Err(expected));
    }
}
