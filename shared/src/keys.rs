//! Asymmetric signing keys we own (RS256 for LivePerson and Live Assist, ES256 where a verifier
//! accepts it), kept together in one Secrets Manager secret:
//!
//! ```json
//! {"keys": [{"kid": "rs256-...", "alg": "RS256", "status": "current", "created_at": 1795000000,
//!            "private_key_pkcs8": "<base64 DER>"}, ...]}
//! ```
//!
//! Per algorithm there is exactly one `current` key (the only one that signs), at most one `next`,
//! and `previous` keys retired less than a retention period ago. All of them are published in the
//! JWKS: `next` before anything is signed with it, `previous` for longer than any token it signed
//! can live plus any verifier's cache, so a verifier's JWKS always holds the key of any still-valid
//! token across rotations, even back-to-back ones. The secret is parsed once per version.
//!
//! A key with a `pin` belongs to a vendor console that holds one pasted public key (Live Assist,
//! LivePerson configured with a pasted key). Scheduled rotation never touches a pinned key: the
//! profile keeps signing with it until an operator stages a successor (published at once, in the
//! paste format too) and then switches to it, a deliberate step with a notification
//! (the `rotation` protocol). Per pin there is one `current` key, at most one `next` (staged) and the
//! `previous` keys a switch retired.

mod certificate;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::secrets::{SecretError, SecretName, SecretStore, SecretString, SecretValue};
use crate::signing::{JwsSigner, SigningAlgorithm, SigningError};

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signed until the last rotation; published so tokens it signed still verify.
    Previous,
    /// Signs.
    Current,
    /// Published ahead of use, so verifiers have it cached when it starts signing.
    Next,
}

pub use crate::values::PinName;

/// A group of keys that rotate together: the rotating keys of one algorithm, or one pin.
type Group = (SigningAlgorithm, Option<PinName>);

fn group_of(key: &StoredKey) -> Group {
    (key.alg, key.pin.clone())
}

/// One key as stored in the secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlgorithm,
    pub status: KeyStatus,
    pub created_at: u64,
    /// When it stopped signing (for `previous` keys): it is dropped a retention period later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
    /// The pasted-key slot this key belongs to; `None` for the rotating keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinName>,
    /// Base64 (standard alphabet) of the PKCS#8 DER private key.
    pub private_key_pkcs8: Zeroizing<String>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// The secret's JSON document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySetDocument {
    pub keys: Vec<StoredKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the signing-key secret is empty: run the first rotation (or the documented bootstrap) to fill it")]
    NotInitialized,
    #[error("the signing-key secret is not a valid key set: {0}")]
    Invalid(String),
    #[error("no current {0} key in the signing-key secret")]
    NoCurrentKey(SigningAlgorithm),
    #[error("no pinned key `{0}` in the signing-key secret: stage it (see the pasted-key runbook)")]
    NoPinnedKey(PinName),
    #[error("pinned key `{0}` has no staged key to switch to: stage one first")]
    NothingStaged(PinName),
    #[error("key generation failed")]
    Generation,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl KeyError {
    /// An empty secret is fixed by the first rotation, which is on its way; an outage of the
    /// store is transient. Anything else needs an operator.
    pub fn is_transient(&self) -> bool {
        match self {
            KeyError::NotInitialized => true,
            KeyError::Secret(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl KeySetDocument {
    /// Parses the secret's value; an empty value (or `{}`) means "not initialized yet".
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed == "{}" || trimmed == "{\"keys\":[]}" {
            return Err(KeyError::NotInitialized);
        }
        // serde's message could quote the document; say only where it failed.
        let document: Self = serde_json::from_str(trimmed).map_err(|e| {
            KeyError::Invalid(format!(
                "not the expected JSON shape (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        document.validate()?;
        Ok(document)
    }

    /// Per algorithm: exactly one current, at most one next, a bounded number of previous; unique kids.
    pub fn validate(&self) -> Result<(), KeyError> {
        if self.keys.is_empty() {
            return Err(KeyError::NotInitialized);
        }
        let mut kids = std::collections::BTreeSet::new();
        let mut counts: BTreeMap<(Group, KeyStatus), usize> = BTreeMap::new();
        for key in &self.keys {
            if key.kid.is_empty() || key.kid.len() > 128 || !key.kid.chars().all(|c| c.is_ascii_graphic()) {
                return Err(KeyError::Invalid(
                    "a kid must be 1-128 printable ASCII characters".into(),
                ));
            }
            if !kids.insert(key.kid.clone()) {
                return Err(KeyError::Invalid(format!("kid `{}` appears twice", key.kid)));
            }
            *counts.entry((group_of(key), key.status)).or_default() += 1;
        }
        let mut pins: BTreeMap<&PinName, SigningAlgorithm> = BTreeMap::new();
        for key in &self.keys {
            if let Some(pin) = &key.pin
                && *pins.entry(pin).or_insert(key.alg) != key.alg
            {
                return Err(KeyError::Invalid(format!("pinned key `{pin}` mixes algorithms")));
            }
        }
        for group in self.groups() {
            let name = match &group.1 {
                Some(pin) => format!("pinned key `{pin}`"),
                None => group.0.to_string(),
            };
            let count = |status| counts.get(&(group.clone(), status)).copied().unwrap_or(0);
            if count(KeyStatus::Current) != 1 {
                return Err(KeyError::Invalid(format!("{name} needs exactly one current key")));
            }
            if count(KeyStatus::Next) > 1 {
                return Err(KeyError::Invalid(format!("{name} has more than one next key")));
            }
            if count(KeyStatus::Previous) > MAX_PREVIOUS_KEYS {
                return Err(KeyError::Invalid(format!(
                    "{name} keeps more than {MAX_PREVIOUS_KEYS} previous keys"
                )));
            }
        }
        Ok(())
    }

    /// A fresh set: a current and a next key per algorithm.
    pub fn generate(algorithms: &[SigningAlgorithm], now: u64) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for &alg in algorithms {
            keys.push(generate_key(alg, KeyStatus::Current, now)?);
            keys.push(generate_key(alg, KeyStatus::Next, now)?);
        }
        Ok(Self { keys })
    }

    /// The groups present: rotating keys per algorithm, and each pin.
    fn groups(&self) -> std::collections::BTreeSet<Group> {
        self.keys.iter().map(group_of).collect()
    }

    /// The next set in a scheduled rotation: per algorithm, next becomes current, current becomes
    /// previous (retired now), previous keys retired more than `retention_seconds` ago are
    /// dropped, and a fresh next is generated. `retention_seconds` must exceed the longest token
    /// lifetime plus the JWKS cache age plus the secret cache TTL. An algorithm without a next key
    /// gets one generated and promoted at once. Pinned keys keep their current and next keys
    /// untouched (a pasted key is never rotated under its console); only their retired keys age out.
    pub fn rotated(&self, now: u64, retention_seconds: u64) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for group in self.groups() {
            let in_group = |k: &&StoredKey| group_of(k) == group;
            let find = |status| self.keys.iter().filter(in_group).find(|k| k.status == status).cloned();
            let still_published = self.keys.iter().filter(in_group).filter(|k| {
                k.status == KeyStatus::Previous
                    && now.saturating_sub(k.retired_at.unwrap_or(k.created_at)) < retention_seconds
            });
            keys.extend(still_published.cloned());
            if group.1.is_some() {
                keys.extend(
                    self.keys
                        .iter()
                        .filter(in_group)
                        .filter(|k| k.status != KeyStatus::Previous)
                        .cloned(),
                );
                continue;
            }
            let alg = group.0;
            let next = match find(KeyStatus::Next) {
                Some(next) => next,
                None => generate_key(alg, KeyStatus::Next, now)?,
            };
            if let Some(mut current) = find(KeyStatus::Current) {
                current.status = KeyStatus::Previous;
                current.retired_at = Some(now);
                keys.push(current);
            }
            keys.push(StoredKey {
                status: KeyStatus::Current,
                ..next
            });
            keys.push(generate_key(alg, KeyStatus::Next, now)?);
        }
        // Oldest previous keys go first if a burst of rotations would exceed the bound.
        let mut document = Self { keys };
        document.trim_previous();
        Ok(document)
    }

    /// Adds a current key for every pin in `pins` that has none (RS256: every console that takes
    /// a pasted key wants it). Existing pinned keys are left as they are.
    pub fn with_pins(&self, pins: &[PinName], now: u64) -> Result<Self, KeyError> {
        let mut document = self.clone();
        for pin in pins {
            if !document.keys.iter().any(|k| k.pin.as_ref() == Some(pin)) {
                let mut key = generate_key(SigningAlgorithm::RS256, KeyStatus::Current, now)?;
                key.pin = Some(pin.clone());
                document.keys.push(key);
            }
        }
        Ok(document)
    }

    /// Stages a successor for `pin`: published from now on (JWKS, paste format) but not signing.
    /// A pin with a staged key keeps it (staging twice changes nothing); a pin with no key at all
    /// gets its first, current key.
    pub fn pin_staged(&self, pin: &PinName, now: u64) -> Result<Self, KeyError> {
        let mut document = self.clone();
        let has = |status| {
            document
                .keys
                .iter()
                .any(|k| k.pin.as_ref() == Some(pin) && k.status == status)
        };
        if !has(KeyStatus::Current) {
            return document.with_pins(std::slice::from_ref(pin), now);
        }
        if !has(KeyStatus::Next) {
            let alg = document
                .keys
                .iter()
                .find(|k| k.pin.as_ref() == Some(pin))
                .map(|k| k.alg)
                .unwrap_or(SigningAlgorithm::RS256);
            let mut key = generate_key(alg, KeyStatus::Next, now)?;
            key.pin = Some(pin.clone());
            document.keys.push(key);
        }
        Ok(document)
    }

    /// Switches `pin` to its staged key: staged becomes current, current becomes previous (still
    /// published for the retention period, so tokens it signed keep verifying by `kid`).
    pub fn pin_switched(&self, pin: &PinName, now: u64) -> Result<Self, KeyError> {
        if !self
            .keys
            .iter()
            .any(|k| k.pin.as_ref() == Some(pin) && k.status == KeyStatus::Next)
        {
            return Err(KeyError::NothingStaged(pin.clone()));
        }
        let mut document = self.clone();
        for key in document.keys.iter_mut().filter(|k| k.pin.as_ref() == Some(pin)) {
            match key.status {
                KeyStatus::Current => {
                    key.status = KeyStatus::Previous;
                    key.retired_at = Some(now);
                }
                KeyStatus::Next => key.status = KeyStatus::Current,
                KeyStatus::Previous => {}
            }
        }
        document.trim_previous();
        Ok(document)
    }

    /// The kid of a group's key in a status.
    pub fn kid_of(&self, pin: Option<&PinName>, alg: SigningAlgorithm, status: KeyStatus) -> Option<&str> {
        self.keys
            .iter()
            .find(|k| k.pin.as_ref() == pin && k.alg == alg && k.status == status)
            .map(|k| k.kid.as_str())
    }

    /// The pins present in the set.
    pub fn pins(&self) -> std::collections::BTreeSet<PinName> {
        self.keys.iter().filter_map(|k| k.pin.clone()).collect()
    }

    fn trim_previous(&mut self) {
        for group in self.groups() {
            let mut previous: Vec<(u64, String)> = self
                .keys
                .iter()
                .filter(|k| group_of(k) == group && k.status == KeyStatus::Previous)
                .map(|k| (k.retired_at.unwrap_or(k.created_at), k.kid.clone()))
                .collect();
            previous.sort();
            let excess = previous.len().saturating_sub(MAX_PREVIOUS_KEYS);
            let dropped: Vec<String> = previous.into_iter().take(excess).map(|(_, kid)| kid).collect();
            self.keys.retain(|k| !dropped.contains(&k.kid));
        }
    }

    pub fn to_secret_string(&self) -> SecretString {
        SecretString::new(serde_json::to_string(self).unwrap_or_default())
    }

    pub fn kids(&self) -> Vec<(String, SigningAlgorithm, KeyStatus)> {
        self.keys.iter().map(|k| (k.kid.clone(), k.alg, k.status)).collect()
    }
}

/// Bounds the JWKS even under a burst of rotations.
pub const MAX_PREVIOUS_KEYS: usize = 5;

/// Generates one key pair; the `kid` is random (it says nothing about the key).
pub fn generate_key(alg: SigningAlgorithm, status: KeyStatus, now: u64) -> Result<StoredKey, KeyError> {
    let pkcs8 = match alg {
        SigningAlgorithm::RS256 => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .and_then(|pair| pair.as_der())
            .map(|der| der.as_ref().to_vec())
            .map_err(|_| KeyError::Generation)?,
        SigningAlgorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| KeyError::Generation)?,
    };
    let pkcs8 = Zeroizing::new(pkcs8);
    let mut id = [0u8; 9];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| KeyError::Generation)?;
    Ok(StoredKey {
        kid: format!("{}-{}", alg.name().to_ascii_lowercase(), URL_SAFE_NO_PAD.encode(id)),
        alg,
        status,
        created_at: now,
        retired_at: None,
        pin: None,
        private_key_pkcs8: Zeroizing::new(STANDARD.encode(pkcs8.as_slice())),
    })
}

/// Which key a profile signs with: the rotating key of an algorithm, or a pinned (pasted) key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChoice {
    Rotating(SigningAlgorithm),
    Pinned(PinName),
}

/// The parsed key set: the current signer per group, the JWKS and the paste formats.
pub struct KeyRing {
    signers: BTreeMap<Group, Arc<JwsSigner>>,
    jwks: Value,
    /// Single-line base64 SPKI of the current and next key of each group.
    spki: BTreeMap<(Group, KeyStatus), String>,
    kids: Vec<(String, SigningAlgorithm, KeyStatus)>,
    /// The rotating RS256 keys, kept to derive their certificates only when asked (publish-keys).
    certifiable: Vec<Certifiable>,
    /// The JWKS with `x5c` and each rotating RS256 key's JWK, computed on first use.
    certified: OnceLock<Certified>,
    /// Every rotating key's public part and life, in publishing order (Dynamics 365's key list).
    rotating: Vec<PublishedKey>,
}

/// A rotating RS256 key a certificate can be derived from.
struct Certifiable {
    kid: String,
    created_at: u64,
    status: KeyStatus,
    pkcs8: Zeroizing<Vec<u8>>,
}

/// The certificate-bearing documents of a ring, for one validity.
struct Certified {
    validity_seconds: u64,
    jwks: Value,
    /// The single JWK (with `x5c`) of the current and next rotating RS256 key.
    single: BTreeMap<KeyStatus, Value>,
}

/// A rotating key as a key list publishes it: its id, status, life and base64 SPKI.
#[derive(Debug, Clone)]
struct PublishedKey {
    kid: String,
    alg: SigningAlgorithm,
    status: KeyStatus,
    created_at: u64,
    retired_at: Option<u64>,
    spki: String,
}

/// The longest rotation interval the template allows (`RotationIntervalDays` at most 365): a
/// rotating key is published as `next` for at most one interval and signs for at most one.
pub const MAX_ROTATION_INTERVAL_SECONDS: u64 = 365 * 86_400;

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("kids", &self.kids).finish()
    }
}

impl KeyRing {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        Self::from_document(&KeySetDocument::parse(text)?)
    }

    pub fn from_document(document: &KeySetDocument) -> Result<Self, KeyError> {
        document.validate()?;
        let mut signers = BTreeMap::new();
        let mut spki_of = BTreeMap::new();
        let mut jwks = Vec::new();
        let mut certifiable = Vec::new();
        let mut rotating = Vec::new();
        // Publish in a stable order: rotating before pinned, then current, next, previous.
        let mut ordered: Vec<&StoredKey> = document.keys.iter().collect();
        ordered.sort_by_key(|k| {
            (
                k.pin.clone(),
                k.alg,
                match k.status {
                    KeyStatus::Current => 0,
                    KeyStatus::Next => 1,
                    KeyStatus::Previous => 2,
                },
            )
        });
        for key in ordered {
            let der = Zeroizing::new(
                STANDARD
                    .decode(key.private_key_pkcs8.as_bytes())
                    .map_err(|_| KeyError::Invalid(format!("key `{}` is not base64", key.kid)))?,
            );
            // Parsing every key (not only the current one) proves the whole set is usable.
            let signer = JwsSigner::from_pkcs8(key.alg, &key.kid, &der)?;
            let (jwk, spki) = public_parts(key.alg, &key.kid, &der)?;
            jwks.push(jwk);
            if key.pin.is_none() {
                rotating.push(PublishedKey {
                    kid: key.kid.clone(),
                    alg: key.alg,
                    status: key.status,
                    created_at: key.created_at,
                    retired_at: key.retired_at,
                    spki: spki.clone(),
                });
            }
            if key.status != KeyStatus::Previous {
                spki_of.insert((group_of(key), key.status), spki);
            }
            if key.status == KeyStatus::Current {
                signers.insert(group_of(key), Arc::new(signer));
            }
            if key.alg == SigningAlgorithm::RS256 && key.pin.is_none() {
                certifiable.push(Certifiable {
                    kid: key.kid.clone(),
                    created_at: key.created_at,
                    status: key.status,
                    pkcs8: Zeroizing::new(der.to_vec()),
                });
            }
        }
        Ok(Self {
            signers,
            jwks: json!({ "keys": jwks }),
            spki: spki_of,
            kids: document.kids(),
            certifiable,
            certified: OnceLock::new(),
            rotating,
        })
    }

    /// The rotating key that signs now for `alg`.
    pub fn signer(&self, alg: SigningAlgorithm) -> Result<Arc<JwsSigner>, KeyError> {
        self.signers
            .get(&(alg, None))
            .cloned()
            .ok_or(KeyError::NoCurrentKey(alg))
    }

    /// The key a profile signs with now.
    pub fn signer_for(&self, choice: &KeyChoice) -> Result<Arc<JwsSigner>, KeyError> {
        match choice {
            KeyChoice::Rotating(alg) => self.signer(*alg),
            KeyChoice::Pinned(pin) => self
                .signers
                .iter()
                .find(|((_, p), _)| p.as_ref() == Some(pin))
                .map(|(_, signer)| signer.clone())
                .ok_or_else(|| {
                    crate::metrics::pasted_key_missing();
                    KeyError::NoPinnedKey(pin.clone())
                }),
        }
    }

    /// `{"keys": [...]}` with every key a verifier may meet (previous, current, next, pinned).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The current rotating key's public key as single-line base64 SPKI (a PEM body without the
    /// BEGIN/END lines and newlines), the form LivePerson's and Live Assist's consoles take.
    pub fn current_public_key_spki(&self, alg: SigningAlgorithm) -> Option<&str> {
        self.spki.get(&((alg, None), KeyStatus::Current)).map(String::as_str)
    }

    /// The paste format of a profile's current key, or of the key that follows it (`Next`: the
    /// rotating `next`, or a pin's staged key).
    pub fn public_key_spki(&self, choice: &KeyChoice, status: KeyStatus) -> Option<&str> {
        self.spki
            .iter()
            .find(|(((alg, pin), s), _)| {
                *s == status
                    && match choice {
                        KeyChoice::Rotating(wanted) => pin.is_none() && alg == wanted,
                        KeyChoice::Pinned(wanted) => pin.as_ref() == Some(wanted),
                    }
            })
            .map(|(_, spki)| spki.as_str())
    }

    pub fn kids(&self) -> &[(String, SigningAlgorithm, KeyStatus)] {
        &self.kids
    }

    /// The JWKS with `x5c` (a self-signed certificate, see `certificate`) on each rotating RS256
    /// key, so a Salesforce keyset can point at our JWKS URL. Pinned keys never rotate and get
    /// none (their certificate would expire under them). Derived on first use and kept with the
    /// ring: only publish-keys asks, mint-token's cold start never pays for it.
    pub fn jwks_with_certificates(&self, validity_seconds: u64) -> Result<Value, KeyError> {
        Ok(self.certified(validity_seconds)?.jwks)
    }

    /// A rotating RS256 key as one JWK `{kty, kid, alg, use, n, e, x5c}`, the form a Salesforce
    /// keyset uploads key by key: the current key, or (`Next`) the key that signs after the next
    /// rotation. `None`: no such key (or not a rotating RS256 choice).
    pub fn certified_jwk(
        &self,
        choice: &KeyChoice,
        status: KeyStatus,
        validity_seconds: u64,
    ) -> Result<Option<Value>, KeyError> {
        if *choice != KeyChoice::Rotating(SigningAlgorithm::RS256) || status == KeyStatus::Previous {
            return Ok(None);
        }
        Ok(self.certified(validity_seconds)?.single.get(&status).cloned())
    }

    fn certified(&self, validity_seconds: u64) -> Result<CertifiedView, KeyError> {
        if let Some(done) = self.certified.get()
            && done.validity_seconds == validity_seconds
        {
            return Ok(CertifiedView::of(done));
        }
        let mut certificates = BTreeMap::new();
        for key in &self.certifiable {
            let bad = || KeyError::Signing(SigningError::BadPrivateKey(SigningAlgorithm::RS256));
            let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&key.pkcs8).map_err(|_| bad())?;
            let der = certificate::self_signed(&pair, &key.kid, key.created_at, validity_seconds).map_err(|_| bad())?;
            certificates.insert(key.kid.clone(), (key.status, STANDARD.encode(der)));
        }
        let mut jwks = self.jwks.clone();
        let mut single = BTreeMap::new();
        if let Some(keys) = jwks.get_mut("keys").and_then(Value::as_array_mut) {
            for jwk in keys {
                let Some((status, x5c)) = jwk["kid"].as_str().and_then(|kid| certificates.get(kid)) else {
                    continue;
                };
                jwk["x5c"] = json!([x5c]);
                if *status != KeyStatus::Previous {
                    single.insert(*status, jwk.clone());
                }
            }
        }
        let done = Certified {
            validity_seconds,
            jwks,
            single,
        };
        let view = CertifiedView::of(&done);
        let _ = self.certified.set(done);
        Ok(view)
    }

    /// Dynamics 365's public-key URL for the rotating keys of `alg`: the current key's PEM text
    /// when it is the only live key, otherwise a JSON array of `{"kid", "publicKey": <base64 of
    /// the PEM text>, "expiry": <Unix seconds>}` (current, next, then previous keys). A previous
    /// key expires when the rotation drops it (`retired_at + retention_seconds`); a current or
    /// next key at the latest it can still verify a token: published as next for at most one
    /// rotation interval, signing for at most one, then kept for the retention period.
    pub fn d365_key_list(&self, alg: SigningAlgorithm, retention_seconds: u64) -> Option<D365KeyList> {
        let keys: Vec<&PublishedKey> = self.rotating.iter().filter(|k| k.alg == alg).collect();
        match keys.as_slice() {
            [] => None,
            [only] => Some(D365KeyList::SinglePem(pem_of(&only.spki))),
            many => {
                let entries: Vec<Value> = many
                    .iter()
                    .map(|key| {
                        let expiry = match (key.status, key.retired_at) {
                            (KeyStatus::Previous, Some(retired)) => retired.saturating_add(retention_seconds),
                            _ => key
                                .created_at
                                .saturating_add(2 * MAX_ROTATION_INTERVAL_SECONDS)
                                .saturating_add(retention_seconds),
                        };
                        json!({"kid": key.kid, "publicKey": STANDARD.encode(pem_of(&key.spki)), "expiry": expiry})
                    })
                    .collect();
                Some(D365KeyList::List(Value::Array(entries)))
            }
        }
    }
}

/// An owned copy of [`Certified`]'s documents.
struct CertifiedView {
    jwks: Value,
    single: BTreeMap<KeyStatus, Value>,
}

impl CertifiedView {
    fn of(done: &Certified) -> Self {
        Self {
            jwks: done.jwks.clone(),
            single: done.single.clone(),
        }
    }
}

/// What Dynamics 365's public-key URL serves.
#[derive(Debug, Clone, PartialEq)]
pub enum D365KeyList {
    /// Exactly one key is live: its PEM text.
    SinglePem(String),
    /// Several keys: `[{"kid", "publicKey", "expiry"}]`.
    List(Value),
}

/// `-----BEGIN PUBLIC KEY-----` PEM text of base64 SPKI, in lines of 64 characters.
fn pem_of(spki_base64: &str) -> String {
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in spki_base64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// The public JWK and the base64 SPKI of a private key.
fn public_parts(alg: SigningAlgorithm, kid: &str, pkcs8: &[u8]) -> Result<(Value, String), KeyError> {
    let bad = || KeyError::Signing(SigningError::BadPrivateKey(alg));
    match alg {
        SigningAlgorithm::RS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(|_| bad())?;
            let public = pair.public_key();
            let spki = public.as_der().map_err(|_| bad())?;
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            });
            Ok((jwk, STANDARD.encode(spki.as_ref())))
        }
        SigningAlgorithm::ES256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(|_| bad())?;
            let point = pair.public_key().as_ref();
            if point.len() != 65 {
                return Err(bad());
            }
            let spki = pair.public_key().as_der().map_err(|_| bad())?;
            let jwk = json!({
                "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            });
            Ok((jwk, STANDARD.encode(spki.as_ref())))
        }
    }
}

/// The key ring behind a secret, parsed once per secret version.
pub struct SigningKeys {
    store: Arc<dyn SecretStore>,
    secret: SecretName,
    parsed: RwLock<Option<(Arc<SecretValue>, Arc<KeyRing>)>>,
}

impl SigningKeys {
    pub fn new(store: Arc<dyn SecretStore>, secret: SecretName) -> Self {
        Self {
            store,
            secret,
            parsed: RwLock::new(None),
        }
    }

    pub fn secret_name(&self) -> &SecretName {
        &self.secret
    }

    /// The current ring. The store caches the value; a new version is parsed once.
    pub async fn ring(&self) -> Result<Arc<KeyRing>, KeyError> {
        let value = self.store.get(&self.secret).await?;
        if let Some((seen, ring)) = self.parsed.read().unwrap_or_else(|e| e.into_inner()).as_ref()
            && Arc::ptr_eq(seen, &value)
        {
            return Ok(ring.clone());
        }
        let ring = Arc::new(KeyRing::parse(value.value.expose())?);
        tracing::info!(secret = %self.secret, version = ?value.version, kids = ?ring.kids(), "signing keys loaded");
        *self.parsed.write().unwrap_or_else(|e| e.into_inner()) = Some((value, ring.clone()));
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::InMemorySecretStore;

    fn fresh() -> KeySetDocument {
        KeySetDocument::generate(&[SigningAlgorithm::RS256, SigningAlgorithm::ES256], 1_000).unwrap()
    }

    #[test]
    fn generated_set_has_current_and_next_per_algorithm_and_publishes_both() {
        let document = fresh();
        let ring = KeyRing::from_document(&document).unwrap();
        let jwks = ring.jwks()["keys"].as_array().unwrap().clone();
        assert_eq!(jwks.len(), 4);
        for jwk in &jwks {
            assert_eq!(jwk["use"], "sig");
            assert!(
                jwk.get("d").is_none() && jwk.get("p").is_none(),
                "no private parts in a JWKS"
            );
        }
        let current_rs = document
            .keys
            .iter()
            .find(|k| k.alg == SigningAlgorithm::RS256 && k.status == KeyStatus::Current)
            .unwrap();
        assert_eq!(ring.signer(SigningAlgorithm::RS256).unwrap().kid(), current_rs.kid);
        assert!(
            ring.current_public_key_spki(SigningAlgorithm::RS256)
                .unwrap()
                .starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A")
        );
    }

    #[test]
    fn rotation_shifts_next_to_current_and_keeps_previous() {
        let first = fresh();
        let second = first.rotated(2_000, 100).unwrap();
        let find = |doc: &KeySetDocument, alg, status| {
            doc.keys
                .iter()
                .find(|k| k.alg == alg && k.status == status)
                .map(|k| k.kid.clone())
        };
        for alg in [SigningAlgorithm::RS256, SigningAlgorithm::ES256] {
            assert_eq!(
                find(&second, alg, KeyStatus::Current),
                find(&first, alg, KeyStatus::Next)
            );
            assert_eq!(
                find(&second, alg, KeyStatus::Previous),
                find(&first, alg, KeyStatus::Current)
            );
            assert!(find(&second, alg, KeyStatus::Next).is_some());
            assert_ne!(find(&second, alg, KeyStatus::Next), find(&first, alg, KeyStatus::Next));
        }
        let third = second.rotated(3_000, 100).unwrap();
        assert_eq!(third.keys.len(), 6, "previous, current, next for two algorithms");
        assert!(KeyRing::from_document(&third).is_ok());
    }

    #[test]
    fn back_to_back_rotations_keep_every_key_that_may_still_verify() {
        let first = fresh();
        let kids = |doc: &KeySetDocument| {
            doc.keys
                .iter()
                .map(|k| k.kid.clone())
                .collect::<std::collections::BTreeSet<_>>()
        };
        let second = first.rotated(1_010, 14_400).unwrap();
        let third = second.rotated(1_020, 14_400).unwrap();
        assert!(
            kids(&first).is_subset(&kids(&third)),
            "keys retired seconds ago stay published"
        );
        assert!(KeyRing::from_document(&third).is_ok());
        // After the retention period they go.
        let later = third.rotated(1_020 + 14_400, 14_400).unwrap();
        let current_first = first.keys.iter().find(|k| k.status == KeyStatus::Current).unwrap();
        assert!(!kids(&later).contains(&current_first.kid));
        // A burst of rotations stays bounded.
        let mut burst = first.clone();
        for i in 0..20 {
            burst = burst.rotated(2_000 + i, 14_400).unwrap();
        }
        assert!(burst.keys.iter().filter(|k| k.status == KeyStatus::Previous).count() <= 2 * MAX_PREVIOUS_KEYS);
        assert!(burst.validate().is_ok());
    }

    #[test]
    fn empty_and_malformed_sets_are_named_errors() {
        assert!(matches!(KeySetDocument::parse(""), Err(KeyError::NotInitialized)));
        assert!(matches!(KeySetDocument::parse("{}"), Err(KeyError::NotInitialized)));
        assert!(matches!(KeySetDocument::parse("not json"), Err(KeyError::Invalid(_))));
        let mut two_current = fresh();
        two_current.keys[1].status = KeyStatus::Current;
        assert!(matches!(two_current.validate(), Err(KeyError::Invalid(_))));
        let mut duplicate = fresh();
        duplicate.keys[1].kid = duplicate.keys[0].kid.clone();
        assert!(matches!(duplicate.validate(), Err(KeyError::Invalid(_))));
        let mut wrong_type = fresh();
        wrong_type.keys[0].alg = SigningAlgorithm::ES256; // an RSA key claiming ES256
        wrong_type.keys[0].kid = "odd".into();
        assert!(KeyRing::from_document(&wrong_type).is_err());
    }

    #[test]
    fn stored_keys_never_print_private_material() {
        let document = fresh();
        let shown = format!("{document:?}");
        assert!(!shown.contains(document.keys[0].private_key_pkcs8.as_str()));
        assert!(shown.contains(&document.keys[0].kid));
    }

    #[tokio::test]
    async fn ring_is_parsed_once_per_secret_version() {
        let document = fresh();
        let store = Arc::new(InMemorySecretStore::with("keys", document.to_secret_string().expose()));
        let keys = SigningKeys::new(store.clone(), SecretName::try_from("keys".to_string()).unwrap());
        let first = keys.ring().await.unwrap();
        let again = keys.ring().await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        store.put("keys", document.rotated(5, 100).unwrap().to_secret_string().expose());
        let rotated = keys.ring().await.unwrap();
        assert!(!Arc::ptr_eq(&first, &rotated));
        assert_ne!(
            first.signer(SigningAlgorithm::RS256).unwrap().kid(),
            rotated.signer(SigningAlgorithm::RS256).unwrap().kid()
        );
    }

    /// Dynamics 365's key list: every rotating key of the algorithm (current, next, previous) with
    /// the base64 of its PEM text and an expiry in Unix seconds; one PEM when only one key is live.
    #[test]
    fn d365_key_list_names_every_rotating_key_and_one_key_is_a_pem() {
        let first = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1_000).unwrap();
        let second = first.rotated(2_000, 14_400).unwrap();
        let ring = KeyRing::from_document(&second).unwrap();
        let Some(D365KeyList::List(list)) = ring.d365_key_list(SigningAlgorithm::RS256, 14_400) else {
            panic!("several keys make a list");
        };
        let entries = list.as_array().unwrap();
        let kids: Vec<&str> = entries.iter().map(|e| e["kid"].as_str().unwrap()).collect();
        let expected: Vec<&str> = [KeyStatus::Current, KeyStatus::Next, KeyStatus::Previous]
            .iter()
            .map(|s| second.kid_of(None, SigningAlgorithm::RS256, *s).unwrap())
            .collect();
        assert_eq!(kids, expected);
        let previous = &entries[2];
        assert_eq!(previous["expiry"], 2_000 + 14_400, "retired_at + retention");
        assert_eq!(
            entries[0]["expiry"],
            1_000 + 2 * MAX_ROTATION_INTERVAL_SECONDS + 14_400,
            "created_at + two intervals + retention"
        );
        let pem = String::from_utf8(STANDARD.decode(entries[0]["publicKey"].as_str().unwrap()).unwrap()).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"),
            "{pem}"
        );
        assert!(pem.ends_with("\n-----END PUBLIC KEY-----\n") && pem.lines().all(|l| l.len() <= 64));
        // Only the current key left (no next staged): its PEM text, not a list.
        let mut single = first.clone();
        single.keys.retain(|k| k.status == KeyStatus::Current);
        let ring = KeyRing::from_document(&single).unwrap();
        assert!(matches!(
            ring.d365_key_list(SigningAlgorithm::RS256, 14_400),
            Some(D365KeyList::SinglePem(pem)) if pem.starts_with("-----BEGIN PUBLIC KEY-----\n")
        ));
        assert!(ring.d365_key_list(SigningAlgorithm::ES256, 14_400).is_none());
    }
}
