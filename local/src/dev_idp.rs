//! The development identity provider: local run only, never in a Lambda build.
//!
//! `POST /dev/login` with a JSON object of claims (at least `sub`) returns an ES256 `id_token`
//! signed by a key kept in the local `secrets.json`; discovery and JWKS are served under `/dev/`,
//! so the local run's token endpoint runs the real bearer verification path against it.
//!
//! It also plays an upstream provider for the visitor-login flow (`/login/dev`): an
//! authorization endpoint that logs a sample visitor in at once (`login_hint` picks `alice` or
//! `bob`), a token endpoint (client_secret_basic, PKCE S256, single-use codes) whose ID token
//! carries only `sub` and protocol claims, and userinfo with the visitor's claims, as Signicat
//! answers by default.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use whoscalling::Clock;

/// The audience the dev provider issues tokens for (the default config trusts it).
pub const DEV_AUDIENCE: &str = "whoscalling-local";
const KID: &str = "dev-es256-1";
/// An hour, like a typical login session's ID token.
const ID_TOKEN_LIFETIME: u64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum DevIdpError {
    #[error("the development identity provider key is not a P-256 PKCS#8 key")]
    BadKey,
    #[error("could not sign")]
    Signing,
}

pub struct DevIdentityProvider {
    issuer: String,
    signing_key: EncodingKey,
    jwks: Value,
    clock: Arc<dyn Clock>,
    /// Codes and access tokens of the code flow (a minute and an hour; in memory).
    codes: Mutex<HashMap<String, PendingCode>>,
    access_tokens: Mutex<HashMap<String, IssuedAccess>>,
}

/// The client the local run's upstream login uses; its secret is in `secrets.json`.
pub const DEV_UPSTREAM_CLIENT_ID: &str = "whoscalling-local";

/// An access token's claims and expiry.
type IssuedAccess = (serde_json::Map<String, Value>, u64);

struct PendingCode {
    claims: serde_json::Map<String, Value>,
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
    expires_at: u64,
}

/// Why the dev provider's code flow refused a request (OAuth error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the OAuth names, as the protocol spells them
pub enum DevOAuthError {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    InvalidToken,
}

impl DevOAuthError {
    pub fn code(self) -> &'static str {
        match self {
            DevOAuthError::InvalidRequest => "invalid_request",
            DevOAuthError::InvalidClient => "invalid_client",
            DevOAuthError::InvalidGrant => "invalid_grant",
            DevOAuthError::InvalidToken => "invalid_token",
        }
    }
}

/// The sample visitors of the code flow.
pub fn sample_visitor(login_hint: Option<&str>) -> serde_json::Map<String, Value> {
    let claims = match login_hint {
        Some("bob") => json!({"sub": "bob", "given_name": "Bob", "family_name": "Smith", "name": "Bob Smith"}),
        _ => json!({"sub": "alice", "given_name": "Alice", "family_name": "Nordmann", "name": "Alice Nordmann",
                    "email": "alice@example.com", "birthdate": "1985-04-12", "nin": "12345678901", "nin_type": "BIRTH",
                    "nin_issuing_country": "NO", "crm_contact_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}),
    };
    claims.as_object().cloned().unwrap_or_default()
}

fn random_value() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    let _ = SystemRandom::new().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh RSA-2048 key as base64 PKCS#8 (the LivePerson encryption stand-in).
pub fn generate_rsa_key() -> Result<String, DevIdpError> {
    use aws_lc_rs::encoding::AsDer;
    let pair = aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| DevIdpError::BadKey)?;
    let der = pair.as_der().map_err(|_| DevIdpError::BadKey)?;
    Ok(STANDARD.encode(der.as_ref()))
}

/// The single-line base64 SPKI public key of a base64 PKCS#8 RSA key.
pub fn rsa_public_key_spki(key_base64_pkcs8: &str) -> Result<String, DevIdpError> {
    use aws_lc_rs::encoding::AsDer;
    let der = STANDARD
        .decode(key_base64_pkcs8.trim())
        .map_err(|_| DevIdpError::BadKey)?;
    let pair = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&der).map_err(|_| DevIdpError::BadKey)?;
    let spki = pair.public_key().as_der().map_err(|_| DevIdpError::BadKey)?;
    Ok(STANDARD.encode(spki.as_ref()))
}

/// A fresh P-256 key as base64 PKCS#8, for `secrets.json`.
pub fn generate_key() -> Result<String, DevIdpError> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| DevIdpError::BadKey)?;
    Ok(STANDARD.encode(pkcs8.as_ref()))
}

impl DevIdentityProvider {
    pub fn new(issuer: String, key_base64_pkcs8: &str, clock: Arc<dyn Clock>) -> Result<Self, DevIdpError> {
        let pkcs8 = STANDARD
            .decode(key_base64_pkcs8.trim())
            .map_err(|_| DevIdpError::BadKey)?;
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).map_err(|_| DevIdpError::BadKey)?;
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err(DevIdpError::BadKey);
        }
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": KID,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]});
        Ok(Self {
            issuer,
            signing_key: EncodingKey::from_ec_der(&pkcs8),
            jwks,
            clock,
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": format!("{}/authorize", self.issuer),
            "token_endpoint": format!("{}/token", self.issuer),
            "userinfo_endpoint": format!("{}/userinfo", self.issuer),
            "jwks_uri": format!("{}/jwks.json", self.issuer),
            "id_token_signing_alg_values_supported": ["ES256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["code", "id_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
        })
    }

    /// The authorization endpoint: logs the sample visitor in at once and returns the redirect
    /// to `redirect_uri` with `code`, `state` and `iss`. Only the local run's own callback URL is
    /// accepted as `redirect_uri` (`allowed_redirect`).
    pub fn authorize(&self, query: &HashMap<String, String>, allowed_redirect: &str) -> Result<String, DevOAuthError> {
        let get = |name: &str| query.get(name).map(String::as_str);
        if get("client_id") != Some(DEV_UPSTREAM_CLIENT_ID) || get("redirect_uri") != Some(allowed_redirect) {
            return Err(DevOAuthError::InvalidRequest);
        }
        if get("response_type") != Some("code") || get("code_challenge_method") != Some("S256") {
            return Err(DevOAuthError::InvalidRequest);
        }
        let challenge = get("code_challenge").ok_or(DevOAuthError::InvalidRequest)?.to_string();
        let code = random_value();
        let pending = PendingCode {
            claims: sample_visitor(get("login_hint")),
            nonce: get("nonce").map(String::from),
            challenge,
            redirect_uri: allowed_redirect.to_string(),
            expires_at: self.clock.now_unix() + 60,
        };
        self.codes
            .lock()
            .map_err(|_| DevOAuthError::InvalidRequest)?
            .insert(code.clone(), pending);
        let mut url = url::Url::parse(allowed_redirect).map_err(|_| DevOAuthError::InvalidRequest)?;
        url.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = get("state") {
            url.query_pairs_mut().append_pair("state", state);
        }
        url.query_pairs_mut().append_pair("iss", &self.issuer);
        Ok(url.into())
    }

    /// The token endpoint (client_secret_basic, PKCE S256, single-use codes).
    pub fn token(&self, basic_ok: bool, form: &HashMap<String, String>) -> Result<Value, DevOAuthError> {
        if !basic_ok {
            return Err(DevOAuthError::InvalidClient);
        }
        let get = |name: &str| form.get(name).map(String::as_str);
        if get("grant_type") != Some("authorization_code") {
            return Err(DevOAuthError::InvalidRequest);
        }
        let code = get("code").ok_or(DevOAuthError::InvalidRequest)?;
        let pending = self
            .codes
            .lock()
            .map_err(|_| DevOAuthError::InvalidGrant)?
            .remove(code)
            .ok_or(DevOAuthError::InvalidGrant)?;
        let verifier = get("code_verifier").ok_or(DevOAuthError::InvalidGrant)?;
        let computed = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ));
        if pending.expires_at <= self.clock.now_unix()
            || computed != pending.challenge
            || get("redirect_uri") != Some(&pending.redirect_uri)
        {
            return Err(DevOAuthError::InvalidGrant);
        }
        let access_token = random_value();
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
        // Like Signicat and most brokers: the ID token says who (`sub`) and how, the person's
        // claims come from userinfo, so the local run exercises the same merge as production.
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), pending.claims.get("sub").cloned().unwrap_or(Value::Null));
        claims.insert("at_hash".into(), json!(URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16])));
        claims.insert("auth_time".into(), json!(self.clock.now_unix()));
        if let Some(nonce) = pending.nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        let id_token = self.login(claims).map_err(|_| DevOAuthError::InvalidGrant)?;
        let expires_at = self.clock.now_unix() + ID_TOKEN_LIFETIME;
        self.access_tokens
            .lock()
            .map_err(|_| DevOAuthError::InvalidGrant)?
            .insert(access_token.clone(), (pending.claims, expires_at));
        Ok(
            json!({"access_token": access_token, "token_type": "Bearer", "expires_in": ID_TOKEN_LIFETIME, "id_token": id_token}),
        )
    }

    /// The userinfo endpoint: every claim of the visitor (the ID token has only `sub`).
    pub fn userinfo(&self, access_token: &str) -> Result<Value, DevOAuthError> {
        let tokens = self.access_tokens.lock().map_err(|_| DevOAuthError::InvalidToken)?;
        match tokens.get(access_token) {
            Some((claims, expires_at)) if *expires_at > self.clock.now_unix() => Ok(Value::Object(claims.clone())),
            _ => Err(DevOAuthError::InvalidToken),
        }
    }

    /// Signs the given claims as an ID token; `iss`, `aud`, `iat` and `exp` are always ours.
    pub fn login(&self, mut claims: serde_json::Map<String, Value>) -> Result<String, DevIdpError> {
        let now = self.clock.now_unix();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(DEV_AUDIENCE));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ID_TOKEN_LIFETIME));
        claims.remove("nbf");
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(KID.into());
        jsonwebtoken::encode(&header, &claims, &self.signing_key).map_err(|_| DevIdpError::Signing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct At(u64);
    impl Clock for At {
        fn now_unix(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn the_code_flow_id_token_says_only_who_and_userinfo_gives_the_person() {
        let idp = DevIdentityProvider::new(
            "http://127.0.0.1:1/dev".into(),
            &generate_key().unwrap(),
            Arc::new(At(1_800_000_000)),
        )
        .unwrap();
        let redirect = "http://127.0.0.1:1/callback/dev";
        let verifier = "v".repeat(43);
        let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ));
        let query: HashMap<String, String> = [
            ("client_id", DEV_UPSTREAM_CLIENT_ID),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("code_challenge_method", "S256"),
            ("code_challenge", &challenge),
            ("nonce", "n-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let location = url::Url::parse(&idp.authorize(&query, redirect).unwrap()).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
        let form: HashMap<String, String> = [
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", redirect),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let answer = idp.token(true, &form).unwrap();

        let payload = answer["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let mut names: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["at_hash", "aud", "auth_time", "exp", "iat", "iss", "nonce", "sub"],
            "no person claims in the ID token"
        );
        assert_eq!(
            (claims["sub"].as_str(), claims["nonce"].as_str()),
            (Some("alice"), Some("n-1"))
        );

        let userinfo = idp.userinfo(answer["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(
            userinfo,
            Value::Object(sample_visitor(None)),
            "the person, from userinfo"
        );
        assert_eq!(userinfo["given_name"], "Alice");
    }
}
