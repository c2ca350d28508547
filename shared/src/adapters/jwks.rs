//! The identity provider's public keys: fetched from its JWKS (URL configured or found through
//! discovery), cached per container, refreshed when old, refetched at most once per interval on
//! an unknown `kid`, and kept when the provider is briefly unreachable.
//!
//! `kid` is only ever a key into the map built here; `jku`, `x5u`, `jwk` and `x5c` headers of a
//! token are never followed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use serde::Deserialize;
use url::Url;

use super::http_client::{self, FetchError};
use crate::clock::Clock;
use crate::identity::{IdentityError, JwksError, JwksSource, KeySource, VerificationKey};
use crate::values::JwsAlgorithm;
use crate::values::algorithm::{Curve, KeyFamily};

/// Fetches the JWKS over HTTPS (HTTP only for loopback issuers), with a timeout, a size cap and
/// no redirects.
pub struct HttpJwksSource {
    /// Built on the first fetch: its TLS setup parses the system CA bundle (about half of a
    /// cold start's instructions), which requests with authorizer claims never need.
    client: tokio::sync::OnceCell<http_client::HttpClient>,
    timeout: Duration,
    /// Exactly as tokens carry it (a trailing `/` matters).
    issuer: String,
    configured_jwks_uri: Option<Url>,
    discovered_jwks_uri: tokio::sync::OnceCell<Url>,
}

fn fetch_error(error: FetchError) -> JwksError {
    match error {
        FetchError::TooLarge => JwksError::TooLarge(http_client::MAX_RESPONSE_BYTES),
        FetchError::Transport(message) => JwksError::Http(message),
        FetchError::Timeout => JwksError::Http(error.to_string()),
    }
}

impl HttpJwksSource {
    pub fn new(timeout: Duration, issuer: String, jwks_uri: Option<Url>) -> Self {
        Self {
            client: tokio::sync::OnceCell::new(),
            timeout,
            issuer,
            configured_jwks_uri: jwks_uri,
            discovered_jwks_uri: tokio::sync::OnceCell::new(),
        }
    }

    /// The key set at a known URL (an upstream provider's discovered `jwks_uri`), fetched with
    /// that provider's client.
    pub fn with_client(client: http_client::HttpClient, jwks_uri: Url) -> Self {
        Self {
            client: tokio::sync::OnceCell::new_with(Some(client)),
            timeout: Duration::ZERO,
            issuer: String::new(),
            configured_jwks_uri: Some(jwks_uri),
            discovered_jwks_uri: tokio::sync::OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&http_client::HttpClient, JwksError> {
        self.client
            .get_or_try_init(|| async { http_client::client(self.timeout, self.timeout).map_err(fetch_error) })
            .await
    }

    async fn get_json(&self, url: &Url) -> Result<serde_json::Value, JwksError> {
        let response = self.client().await?.get(url).await.map_err(fetch_error)?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        serde_json::from_slice(response.body()).map_err(|_| JwksError::InvalidDocument("not JSON"))
    }

    async fn jwks_uri(&self) -> Result<Url, JwksError> {
        if let Some(uri) = &self.configured_jwks_uri {
            return Ok(uri.clone());
        }
        self.discovered_jwks_uri
            .get_or_try_init(|| async {
                let discovery = discovery_url(&self.issuer)?;
                let document = self.get_json(&discovery).await?;
                #[derive(Deserialize)]
                struct Discovery {
                    issuer: String,
                    jwks_uri: Url,
                }
                let discovered: Discovery = serde_json::from_value(document)
                    .map_err(|_| JwksError::InvalidDocument("discovery lacks issuer or jwks_uri"))?;
                // OIDC Discovery 4.3: the issuer must be identical to the one we were configured with.
                if discovered.issuer != self.issuer {
                    return Err(JwksError::IssuerMismatch);
                }
                Ok(discovered.jwks_uri)
            })
            .await
            .cloned()
    }
}

/// OIDC Discovery 4: the issuer with any trailing `/` removed, then the well-known path.
fn discovery_url(issuer: &str) -> Result<Url, JwksError> {
    Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .map_err(|_| JwksError::InvalidDocument("issuer is not a URL"))
}

#[async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self) -> Result<serde_json::Value, JwksError> {
        let uri = self.jwks_uri().await?;
        self.get_json(&uri).await
    }
}

#[derive(Default)]
struct KeySnapshot {
    by_kid: HashMap<String, VerificationKey>,
    without_kid: Vec<VerificationKey>,
    fetched_at: Option<u64>,
    /// The document as fetched, for a verifier that reads it with its own library (the upstream
    /// login's `openidconnect`).
    document: Option<Arc<serde_json::Value>>,
}

/// Cache timing.
#[derive(Debug, Clone, Copy)]
pub struct JwksCacheSettings {
    /// Keys older than this are refreshed on the next use (the old ones serve if that fails).
    pub max_age_seconds: u64,
    /// At most one fetch per this interval, whatever unknown `kid`s arrive.
    pub min_refetch_interval_seconds: u64,
}

impl Default for JwksCacheSettings {
    fn default() -> Self {
        Self {
            max_age_seconds: 3600,
            min_refetch_interval_seconds: 60,
        }
    }
}

pub struct JwksCache {
    source: Arc<dyn JwksSource>,
    clock: Arc<dyn Clock>,
    allowed: Vec<JwsAlgorithm>,
    settings: JwksCacheSettings,
    snapshot: RwLock<Arc<KeySnapshot>>,
    /// Serializes fetches and remembers when the last one started.
    last_attempt: tokio::sync::Mutex<Option<u64>>,
    fetches: std::sync::atomic::AtomicUsize,
}

impl JwksCache {
    pub fn new(
        source: Arc<dyn JwksSource>,
        clock: Arc<dyn Clock>,
        allowed: Vec<JwsAlgorithm>,
        settings: JwksCacheSettings,
    ) -> Self {
        Self {
            source,
            clock,
            allowed,
            settings,
            snapshot: RwLock::new(Arc::new(KeySnapshot::default())),
            last_attempt: tokio::sync::Mutex::new(None),
            fetches: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many times the source was asked (for tests and the performance report).
    pub fn fetch_count(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts an empty cache from a document fetched elsewhere (the one discovery returned),
    /// without spending the refetch allowance: the first unknown `kid` may still refetch.
    pub fn seed(&self, document: serde_json::Value) {
        let now = self.clock.now_unix();
        let mut snapshot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        if snapshot.fetched_at.is_none()
            && let Ok((by_kid, without_kid)) = parse_key_set(&document, &self.allowed)
        {
            *snapshot = Arc::new(KeySnapshot {
                by_kid,
                without_kid,
                fetched_at: Some(now),
                document: Some(Arc::new(document)),
            });
        }
    }

    /// The whole key set as last fetched (refreshed when older than the maximum age; the old
    /// one serves if that fails). `None` while no fetch has succeeded.
    pub async fn document(&self) -> Option<Arc<serde_json::Value>> {
        let now = self.clock.now_unix();
        let snapshot = self.current();
        let stale = snapshot
            .fetched_at
            .is_none_or(|at| now.saturating_sub(at) >= self.settings.max_age_seconds);
        let snapshot = if stale {
            self.refresh(now).await.unwrap_or(snapshot)
        } else {
            snapshot
        };
        snapshot.document.clone()
    }

    /// After a token named a key `known` lacks: a newer key set, fetched now unless a fetch
    /// started within the minimum interval. `None` when there is nothing newer.
    pub async fn refetched_document(&self, known: &Arc<serde_json::Value>) -> Option<Arc<serde_json::Value>> {
        let fresh = self.refresh(self.clock.now_unix()).await?;
        fresh.document.clone().filter(|document| !Arc::ptr_eq(document, known))
    }

    fn current(&self) -> Arc<KeySnapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key for a token header's `kid` and `alg`.
    async fn key_for_now(&self, kid: Option<&str>, algorithm: JwsAlgorithm) -> Result<VerificationKey, IdentityError> {
        let now = self.clock.now_unix();
        let snapshot = self.current();
        let stale = snapshot
            .fetched_at
            .is_none_or(|at| now.saturating_sub(at) >= self.settings.max_age_seconds);
        let snapshot = if stale {
            self.refresh(now).await.unwrap_or(snapshot)
        } else {
            snapshot
        };
        if let Some(key) = lookup(&snapshot, kid, algorithm) {
            return Ok(key);
        }
        // An unknown kid may be a freshly rotated key: look again, at most once per interval.
        let snapshot = match self.refresh(now).await {
            Some(fresh) => fresh,
            None => snapshot,
        };
        if let Some(key) = lookup(&snapshot, kid, algorithm) {
            return Ok(key);
        }
        if snapshot.fetched_at.is_none() {
            Err(IdentityError::KeysUnavailable)
        } else {
            Err(IdentityError::UnknownKey)
        }
    }

    /// Fetches unless a fetch started within the minimum interval; `None` when nothing new.
    async fn refresh(&self, now: u64) -> Option<Arc<KeySnapshot>> {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.is_some_and(|at| now.saturating_sub(at) < self.settings.min_refetch_interval_seconds) {
            // Someone else just fetched (or failed to): use whatever they got.
            return Some(self.current());
        }
        *last_attempt = Some(now);
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        crate::metrics::jwks_refetch();
        match self.source.fetch().await {
            Ok(document) => match parse_key_set(&document, &self.allowed) {
                Ok((by_kid, without_kid)) => {
                    let document = Some(Arc::new(document));
                    let fresh = Arc::new(KeySnapshot {
                        by_kid,
                        without_kid,
                        fetched_at: Some(now),
                        document,
                    });
                    *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
                    tracing::info!(
                        keys = fresh.by_kid.len() + fresh.without_kid.len(),
                        "identity provider keys refreshed"
                    );
                    Some(fresh)
                }
                Err(error) => {
                    crate::metrics::upstream_failure();
                    tracing::warn!(error = %error, "identity provider keys unusable: keeping the cached keys");
                    None
                }
            },
            Err(error) => {
                crate::metrics::upstream_failure();
                tracing::warn!(error = %error, "identity provider keys unavailable: keeping the cached keys");
                None
            }
        }
    }
}

fn lookup(snapshot: &KeySnapshot, kid: Option<&str>, algorithm: JwsAlgorithm) -> Option<VerificationKey> {
    match kid {
        Some(kid) => snapshot.by_kid.get(kid).filter(|k| k.algorithm == algorithm).cloned(),
        None => {
            // Without a kid, only an unambiguous key will do.
            let mut candidates = snapshot
                .by_kid
                .values()
                .chain(snapshot.without_kid.iter())
                .filter(|k| k.algorithm == algorithm);
            match (candidates.next(), candidates.next()) {
                (Some(key), None) => Some(key.clone()),
                _ => None,
            }
        }
    }
}

type ParsedKeys = (HashMap<String, VerificationKey>, Vec<VerificationKey>);

/// Keeps the signing keys of allowed algorithms; skips (rather than fails on) keys we cannot use,
/// so one exotic key in the provider's set does not lock every visitor out.
fn parse_key_set(document: &serde_json::Value, allowed: &[JwsAlgorithm]) -> Result<ParsedKeys, JwksError> {
    let keys = document
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or(JwksError::InvalidDocument("no `keys` array"))?;
    let mut by_kid = HashMap::new();
    let mut without_kid = Vec::new();
    for raw in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Some(algorithm) = key_algorithm(&jwk) else { continue };
        if !allowed.contains(&algorithm) {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        let entry = VerificationKey { key, algorithm };
        match jwk.common.key_id {
            Some(kid) => {
                by_kid.insert(kid, entry);
            }
            None => without_kid.push(entry),
        }
    }
    Ok((by_kid, without_kid))
}

/// The algorithm a JWK is for: its `alg`, or the one its type implies. Symmetric keys never.
fn key_algorithm(jwk: &Jwk) -> Option<JwsAlgorithm> {
    let declared = jwk
        .common
        .key_algorithm
        .and_then(|a| serde_json::to_value(a).ok())
        .and_then(|v| v.as_str().and_then(declared_algorithm));
    let curve = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => None,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(Curve::P256),
            EllipticCurve::P384 => Some(Curve::P384),
            _ => return None,
        },
        _ => return None,
    };
    let implied = match curve {
        None => JwsAlgorithm::RS256,
        Some(Curve::P256) => JwsAlgorithm::ES256,
        Some(Curve::P384) => JwsAlgorithm::ES384,
    };
    match declared {
        // A declared algorithm must fit the key: RS*/PS* on RSA, ES* on its own curve.
        Some(Ok(alg)) => match (alg.family(), curve) {
            (KeyFamily::Rsa, None) => Some(alg),
            (KeyFamily::Ec(wanted), Some(have)) if wanted == have => Some(alg),
            _ => None,
        },
        Some(Err(())) => None,
        None => Some(implied),
    }
}

/// A JWK's `alg`: ours, a JWS algorithm we never accept (`HS*`, `EdDSA`: the key is skipped), or
/// no JWS algorithm at all (then the key type decides, as without `alg`).
fn declared_algorithm(name: &str) -> Option<Result<JwsAlgorithm, ()>> {
    match JwsAlgorithm::parse(name) {
        Some(algorithm) => Some(Ok(algorithm)),
        None => name.parse::<jsonwebtoken::Algorithm>().is_ok().then_some(Err(())),
    }
}

#[async_trait]
impl KeySource for JwksCache {
    async fn key_for(&self, kid: Option<&str>, algorithm: JwsAlgorithm) -> Result<VerificationKey, IdentityError> {
        self.key_for_now(kid, algorithm).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use serde_json::json;
    use std::sync::Mutex;

    struct ScriptedSource {
        documents: Mutex<Vec<Result<serde_json::Value, JwksError>>>,
        calls: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl JwksSource for ScriptedSource {
        async fn fetch(&self) -> Result<serde_json::Value, JwksError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut docs = self.documents.lock().unwrap();
            if docs.len() > 1 {
                docs.remove(0)
            } else {
                docs.first()
                    .map(|d| match d {
                        Ok(v) => Ok(v.clone()),
                        Err(_) => Err(JwksError::Status(503)),
                    })
                    .unwrap_or(Err(JwksError::Status(503)))
            }
        }
    }

    fn ec_jwk(kid: &str) -> serde_json::Value {
        // A valid P-256 point (the RFC 7515 A.3 example key).
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
               "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
               "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
    }

    fn cache(
        docs: Vec<Result<serde_json::Value, JwksError>>,
        clock: Arc<FixedClock>,
    ) -> (JwksCache, Arc<ScriptedSource>) {
        let source = Arc::new(ScriptedSource {
            documents: Mutex::new(docs),
            calls: Default::default(),
        });
        let cache = JwksCache::new(
            source.clone(),
            clock,
            vec![JwsAlgorithm::ES256, JwsAlgorithm::RS256],
            JwksCacheSettings::default(),
        );
        (cache, source)
    }

    #[tokio::test]
    async fn unknown_kid_refetches_at_most_once_per_interval() {
        let clock = Arc::new(FixedClock::at(1_000));
        let (cache, source) = cache(vec![Ok(json!({"keys": [ec_jwk("a")]}))], clock.clone());
        assert!(cache.key_for(Some("a"), JwsAlgorithm::ES256).await.is_ok());
        for _ in 0..50 {
            assert_eq!(
                cache.key_for(Some("nope"), JwsAlgorithm::ES256).await.err(),
                Some(IdentityError::UnknownKey)
            );
        }
        assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        clock.advance(61);
        let _ = cache.key_for(Some("nope"), JwsAlgorithm::ES256).await;
        assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_document_view_seeds_without_a_fetch_refetches_once_per_interval_and_survives_an_outage() {
        let calls = |source: &ScriptedSource| source.calls.load(std::sync::atomic::Ordering::SeqCst);
        let clock = Arc::new(FixedClock::at(1_000));
        let (cache, source) = cache(
            vec![Ok(json!({"keys": [ec_jwk("b")]})), Err(JwksError::Status(503))],
            clock.clone(),
        );
        cache.seed(json!({"keys": [ec_jwk("a")]}));
        let seeded = cache.document().await.expect("the seeded set serves");
        assert_eq!(seeded["keys"][0]["kid"], "a");
        assert_eq!(calls(&source), 0, "seeding fetches nothing");
        // The seed did not spend the allowance: the first unknown kid refetches at once.
        let fresh = cache.refetched_document(&seeded).await.expect("a newer set");
        assert_eq!((fresh["keys"][0]["kid"].clone(), calls(&source)), (json!("b"), 1));
        assert!(
            cache.refetched_document(&fresh).await.is_none(),
            "nothing newer within the interval"
        );
        assert_eq!(calls(&source), 1);
        // Past the interval the provider is down: nothing newer, and the last set still serves.
        clock.advance(61);
        assert!(cache.refetched_document(&fresh).await.is_none());
        assert_eq!(calls(&source), 2);
        assert_eq!(cache.document().await.expect("kept")["keys"][0]["kid"], "b");
        // A second seed never replaces fetched keys.
        cache.seed(json!({"keys": [ec_jwk("c")]}));
        assert_eq!(cache.document().await.expect("kept")["keys"][0]["kid"], "b");
    }

    #[tokio::test]
    async fn rotated_key_is_found_by_refetch() {
        let clock = Arc::new(FixedClock::at(1_000));
        let (cache, _) = cache(
            vec![
                Ok(json!({"keys": [ec_jwk("a")]})),
                Ok(json!({"keys": [ec_jwk("a"), ec_jwk("b")]})),
            ],
            clock.clone(),
        );
        assert!(cache.key_for(Some("a"), JwsAlgorithm::ES256).await.is_ok());
        clock.advance(61);
        assert!(cache.key_for(Some("b"), JwsAlgorithm::ES256).await.is_ok());
    }

    fn calls(source: &ScriptedSource) -> usize {
        source.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn cached_keys_survive_a_provider_outage() {
        let clock = Arc::new(FixedClock::at(1_000));
        let (cache, source) = cache(
            vec![Ok(json!({"keys": [ec_jwk("a")]})), Err(JwksError::Status(503))],
            clock.clone(),
        );
        assert!(cache.key_for(Some("a"), JwsAlgorithm::ES256).await.is_ok());
        assert_eq!(calls(&source), 1);
        // Past the minimum interval: an unknown kid makes the cache ask, the provider is down, the
        // kid stays unknown (not "keys unavailable") and the cached key still serves.
        clock.advance(61);
        assert_eq!(
            cache.key_for(Some("rotated"), JwsAlgorithm::ES256).await.err(),
            Some(IdentityError::UnknownKey)
        );
        assert_eq!(calls(&source), 2, "the refetch was attempted");
        assert!(cache.key_for(Some("a"), JwsAlgorithm::ES256).await.is_ok());
        assert_eq!(calls(&source), 2, "a known kid inside max age asks nobody");
        // Past max age: the refresh is attempted, fails, and the old key still serves.
        clock.advance(7_200);
        assert!(cache.key_for(Some("a"), JwsAlgorithm::ES256).await.is_ok());
        assert_eq!(calls(&source), 3, "the max-age refresh was attempted");
    }

    /// Revocation: a key the provider stops publishing keeps verifying until the cache's max age
    /// (that is the price of caching), and not one request after.
    #[tokio::test]
    async fn a_key_the_provider_removes_stops_verifying_after_max_age() {
        let clock = Arc::new(FixedClock::at(1_000));
        let (cache, source) = cache(
            vec![
                Ok(json!({"keys": [ec_jwk("a"), ec_jwk("b")]})),
                Ok(json!({"keys": [ec_jwk("b")]})),
            ],
            clock.clone(),
        );
        assert!(cache.key_for(Some("a"), JwsAlgorithm::ES256).await.is_ok());
        clock.advance(JwksCacheSettings::default().max_age_seconds - 1);
        assert!(
            cache.key_for(Some("a"), JwsAlgorithm::ES256).await.is_ok(),
            "inside max age the cached key serves"
        );
        assert_eq!(calls(&source), 1);
        clock.advance(1);
        assert_eq!(
            cache.key_for(Some("a"), JwsAlgorithm::ES256).await.err(),
            Some(IdentityError::UnknownKey),
            "revoked at max age"
        );
        assert_eq!(
            calls(&source),
            2,
            "one refresh, and the unknown kid did not trigger a second inside the interval"
        );
        assert!(
            cache.key_for(Some("b"), JwsAlgorithm::ES256).await.is_ok(),
            "control: the key still published serves"
        );
    }

    #[tokio::test]
    async fn provider_down_from_the_start_is_keys_unavailable() {
        let clock = Arc::new(FixedClock::at(1_000));
        let (cache, _) = cache(vec![Err(JwksError::Status(503))], clock);
        assert_eq!(
            cache.key_for(Some("a"), JwsAlgorithm::ES256).await.err(),
            Some(IdentityError::KeysUnavailable)
        );
    }

    #[tokio::test]
    async fn key_is_bound_to_its_algorithm_and_odd_keys_are_skipped() {
        let clock = Arc::new(FixedClock::at(1_000));
        let doc = json!({"keys": [
            ec_jwk("a"),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "abc"},
            {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]});
        let (cache, _) = cache(vec![Ok(doc)], clock);
        assert!(cache.key_for(Some("a"), JwsAlgorithm::ES256).await.is_ok());
        assert_eq!(
            cache.key_for(Some("a"), JwsAlgorithm::RS256).await.err(),
            Some(IdentityError::UnknownKey)
        );
        for algorithm in JwsAlgorithm::ALL {
            assert_eq!(
                cache.key_for(Some("hmac"), algorithm).await.err(),
                Some(IdentityError::UnknownKey),
                "{algorithm}"
            );
        }
        assert_eq!(
            cache.key_for(Some("enc"), JwsAlgorithm::ES256).await.err(),
            Some(IdentityError::UnknownKey)
        );
        // No kid: the single ES256 key is unambiguous.
        assert!(cache.key_for(None, JwsAlgorithm::ES256).await.is_ok());
    }

    #[test]
    fn discovery_url_keeps_the_issuer_path() {
        assert_eq!(
            discovery_url("https://idp.example.com/realms/shop").unwrap().as_str(),
            "https://idp.example.com/realms/shop/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://tenant.example.com/").unwrap().as_str(),
            "https://tenant.example.com/.well-known/openid-configuration"
        );
    }
}
