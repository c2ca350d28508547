//! Verifying a visitor's bearer token (an ID token or JWT access token from the brand's identity
//! provider) ourselves.
//!
//! Every rule is named here rather than left to a library default: the algorithm allow-list
//! (asymmetric only), the issuer, the audiences, the required claims, and the leeway. Time
//! claims are checked against the injected clock and must be integers.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde_json::{Map, Value};

use super::jwks::KeySource;
use super::visitor::VisitorPolicy;
use super::{IdentityError, VerifiedClaims};
use crate::clock::Clock;
use crate::values::{JwsAlgorithm, valid_subject};

/// Longer than any real ID token; bounds the work an attacker can ask of us.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
const MAX_KID_CHARS: usize = 256;

/// What a bearer token must satisfy.
#[derive(Debug, Clone)]
pub struct BearerPolicy {
    /// Exact `iss`.
    pub issuer: String,
    /// At least one must appear in `aud`.
    pub audiences: Vec<String>,
    /// Asymmetric algorithms only (config validation refuses HS* and `none`).
    pub algorithms: Vec<JwsAlgorithm>,
    /// Allowed clock skew for `exp`, `nbf` and `iat`.
    pub leeway_seconds: u64,
    /// Age, lifetime and kind rules for a visitor's login.
    pub visitor: VisitorPolicy,
}

pub struct BearerVerifier {
    policy: BearerPolicy,
    keys: Arc<dyn KeySource>,
    clock: Arc<dyn Clock>,
}

impl BearerVerifier {
    pub fn new(policy: BearerPolicy, keys: Arc<dyn KeySource>, clock: Arc<dyn Clock>) -> Self {
        Self { policy, keys, clock }
    }

    pub async fn verify(&self, token: &str) -> Result<VerifiedClaims, IdentityError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(IdentityError::Malformed("the token is too large"));
        }
        let header = parse_protected_header(token)?;
        let algorithm = self.allowed_algorithm(&header)?;
        // RFC 8725 3.11 / RFC 9068: an explicitly typed token of another kind (an access token,
        // a logout token...) is not a login, even when the same key signed it.
        match header.get("typ") {
            None => {}
            Some(Value::String(typ))
                if typ.eq_ignore_ascii_case("JWT") || typ.eq_ignore_ascii_case("application/jwt") => {}
            Some(_) => return Err(IdentityError::ForbiddenHeader("typ (not an ID token)")),
        }
        // The payload must mean one thing to every JSON parser before anything trusts it.
        reject_duplicate_members(token)?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) if kid.chars().count() <= MAX_KID_CHARS && !kid.chars().any(char::is_control) => {
                Some(kid.as_str())
            }
            Some(_) => return Err(IdentityError::Malformed("unusable `kid`")),
        };
        let key = self.keys.key_for(kid, algorithm).await?;

        let mut validation = Validation::new(algorithm.into());
        validation.algorithms = vec![algorithm.into()];
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_audience(&self.policy.audiences);
        validation.validate_aud = true;
        // Time claims are checked below against our clock, as integers.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        // `exp` and `iat` presence and type are checked in `check_time`.
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        let decoded =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation).map_err(map_jwt_error)?;
        let claims = decoded.claims;
        // RFC 7519 4.1.1: `iss` is one string; jsonwebtoken also accepts an array containing it.
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.policy.issuer => {}
            _ => return Err(IdentityError::WrongIssuer),
        }
        self.check_audience(&claims)?;
        self.check_time(&claims)?;
        match claims.get("sub") {
            Some(Value::String(sub)) if valid_subject(sub) => {}
            _ => return Err(IdentityError::InvalidClaim("sub")),
        }
        self.policy.visitor.check_kind(&claims, false)?;
        VerifiedClaims::from_json(Value::Object(claims)).ok_or(IdentityError::InvalidClaim("sub"))
    }

    fn allowed_algorithm(&self, header: &Map<String, Value>) -> Result<JwsAlgorithm, IdentityError> {
        let Some(Value::String(name)) = header.get("alg") else {
            return Err(IdentityError::Malformed("no `alg` header"));
        };
        // Exact, case-sensitive names: "none", "None", "hs256" never parse into an allowed one.
        let algorithm = JwsAlgorithm::parse(name).ok_or(IdentityError::AlgorithmNotAllowed)?;
        if self.policy.algorithms.contains(&algorithm) {
            Ok(algorithm)
        } else {
            Err(IdentityError::AlgorithmNotAllowed)
        }
    }

    /// OIDC Core 3.1.3.7: an audience we do not trust, next to one we do, is a refusal too.
    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), IdentityError> {
        let trusted = |a: &Value| a.as_str().is_some_and(|a| self.policy.audiences.iter().any(|t| t == a));
        match claims.get("aud") {
            Some(Value::String(_)) => Ok(()),
            Some(Value::Array(members)) if !members.is_empty() && members.iter().all(trusted) => Ok(()),
            _ => Err(IdentityError::WrongAudience),
        }
    }

    fn check_time(&self, claims: &Map<String, Value>) -> Result<(), IdentityError> {
        let now = self.clock.now_unix();
        let leeway = self.policy.leeway_seconds;
        let exp = integer_claim(claims, "exp")?.ok_or(IdentityError::MissingClaim("exp"))?;
        let iat = integer_claim(claims, "iat")?.ok_or(IdentityError::MissingClaim("iat"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(IdentityError::Expired);
        }
        if iat > now.saturating_add(leeway) {
            return Err(IdentityError::IssuedInFuture);
        }
        // Measured from `iat`, not from now: a login issued two days ago with `exp` five minutes
        // ahead is as old as it is, and a token meant to live for days (or forever: `exp` =
        // u64::MAX) is not a visitor's login session.
        self.policy.visitor.check_lifetime(iat, exp)?;
        self.policy.visitor.check_age(iat, now, leeway)?;
        if let Some(nbf) = integer_claim(claims, "nbf")?
            && nbf > now.saturating_add(leeway)
        {
            return Err(IdentityError::NotYetValid);
        }
        Ok(())
    }
}

/// A NumericDate that must be a non-negative integer (not a string, float or bool).
fn integer_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, IdentityError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or(IdentityError::InvalidClaim(name)),
    }
}

/// Decodes and screens the JWS protected header of a compact token.
fn parse_protected_header(token: &str) -> Result<Map<String, Value>, IdentityError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdentityError::Malformed(
            "not a compact JWS (three dot-separated parts)",
        ));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(IdentityError::Malformed("empty part"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| IdentityError::Malformed("header is not base64url"))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| IdentityError::Malformed("header is not a JSON object"))?;
    // RFC 7515 4.1.11: we understand no extension, so any `crit` is a refusal; `b64: false`
    // (RFC 7797) would change what is signed. Key-carrying headers are never followed, and a
    // token that carries one is refused so nobody mistakes it for trusted.
    for (name, reason) in [
        ("crit", "crit"),
        ("b64", "b64"),
        ("jku", "jku"),
        ("jwk", "jwk"),
        ("x5u", "x5u"),
        ("x5c", "x5c"),
        ("enc", "enc (a JWE where a JWS is expected)"),
    ] {
        if header.contains_key(name) {
            return Err(IdentityError::ForbiddenHeader(reason));
        }
    }
    Ok(header)
}

/// RFC 7519 4: duplicate member names may be refused, and we do (a JSON parser keeping the
/// first and one keeping the last would read different identities from the same signed bytes).
fn reject_duplicate_members(token: &str) -> Result<(), IdentityError> {
    let payload = token.split('.').nth(1).ok_or(IdentityError::Malformed("no payload"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| IdentityError::Malformed("payload is not base64url"))?;
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    serde::Deserializer::deserialize_any(&mut deserializer, UniqueMembers)
        .map_err(|_| IdentityError::Malformed("duplicate claim names"))
}

/// Walks a JSON value and fails on an object with the same member name twice, at any depth.
struct UniqueMembers;

impl<'de> serde::de::Visitor<'de> for UniqueMembers {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON without duplicate member names")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(serde::de::Error::custom("duplicate member"));
            }
            map.next_value_seed(UniqueMembersSeed)?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueMembersSeed)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

struct UniqueMembersSeed;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueMembersSeed {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(UniqueMembers)
    }
}

fn map_jwt_error(error: jsonwebtoken::errors::Error) -> IdentityError {
    match error.kind() {
        ErrorKind::InvalidSignature => IdentityError::BadSignature,
        ErrorKind::InvalidIssuer => IdentityError::WrongIssuer,
        ErrorKind::InvalidAudience => IdentityError::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => IdentityError::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "iss" => IdentityError::MissingClaim("iss"),
            "aud" => IdentityError::MissingClaim("aud"),
            "sub" => IdentityError::MissingClaim("sub"),
            "exp" => IdentityError::MissingClaim("exp"),
            "iat" => IdentityError::MissingClaim("iat"),
            _ => IdentityError::Malformed("a required claim is missing"),
        },
        ErrorKind::InvalidSubject => IdentityError::InvalidClaim("sub"),
        _ => IdentityError::Malformed("the token could not be decoded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::jwks::{JwksCache, JwksCacheSettings};
    use crate::clock::FixedClock;
    use crate::identity::jwks::{JwksError, JwksSource};
    use async_trait::async_trait;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use jsonwebtoken::Algorithm;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const ISSUER: &str = "https://idp.example.com";

    struct StaticJwks(Value);
    #[async_trait]
    impl JwksSource for StaticJwks {
        async fn fetch(&self) -> Result<Value, JwksError> {
            Ok(self.0.clone())
        }
    }

    struct TestIdp {
        signing: EncodingKey,
        verifier: BearerVerifier,
    }

    fn idp() -> TestIdp {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        let clock = Arc::new(FixedClock::at(NOW));
        let keys = Arc::new(JwksCache::new(
            Arc::new(StaticJwks(json!({"keys": [jwk]}))),
            clock.clone(),
            vec![JwsAlgorithm::ES256, JwsAlgorithm::RS256],
            JwksCacheSettings::default(),
        ));
        let policy = BearerPolicy {
            issuer: ISSUER.into(),
            audiences: vec!["web".into()],
            algorithms: vec![JwsAlgorithm::ES256, JwsAlgorithm::RS256],
            leeway_seconds: 30,
            visitor: VisitorPolicy {
                max_token_age_seconds: 43_200,
                required_claim: None,
            },
        };
        TestIdp {
            signing: EncodingKey::from_ec_der(pkcs8.as_ref()),
            verifier: BearerVerifier::new(policy, keys, clock),
        }
    }

    fn good_claims() -> Value {
        json!({"iss": ISSUER, "aud": "web", "sub": "alice", "iat": NOW - 10, "exp": NOW + 300, "email": "a@example.com"})
    }

    fn sign(idp: &TestIdp, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, claims, &idp.signing).unwrap()
    }

    fn with_claim(name: &str, value: Value) -> Value {
        let mut claims = good_claims();
        claims[name] = value;
        claims
    }

    #[tokio::test]
    async fn valid_token_yields_its_claims() {
        let idp = idp();
        let claims = idp.verifier.verify(&sign(&idp, &good_claims())).await.unwrap();
        assert_eq!(claims.subject(), "alice");
        assert_eq!(claims.get("email"), Some(&json!("a@example.com")));
    }

    #[tokio::test]
    async fn time_claims_are_enforced_with_leeway() {
        let idp = idp();
        let cases = [
            (with_claim("exp", json!(NOW - 31)), IdentityError::Expired),
            (with_claim("exp", json!(NOW - 30)), IdentityError::Expired),
            (with_claim("iat", json!(NOW + 31)), IdentityError::IssuedInFuture),
            (with_claim("nbf", json!(NOW + 31)), IdentityError::NotYetValid),
            (
                with_claim("exp", json!("1900000000")),
                IdentityError::InvalidClaim("exp"),
            ),
            (
                with_claim("exp", json!(1_900_000_000.5)),
                IdentityError::InvalidClaim("exp"),
            ),
            (with_claim("iat", json!(true)), IdentityError::InvalidClaim("iat")),
            // Never expiring, or meant to live longer than a login session: not a visitor's login.
            (with_claim("exp", json!(u64::MAX)), IdentityError::LifetimeTooLong),
            (with_claim("exp", json!(NOW + 86_401)), IdentityError::LifetimeTooLong),
            // Issued two days ago, `exp` five minutes ahead: too old, whatever `exp` says.
            (
                json!({"iss": ISSUER, "aud": "web", "sub": "alice", "iat": NOW - 172_800, "exp": NOW + 300}),
                IdentityError::LifetimeTooLong,
            ),
            // Old but with a plausible span (exp already passed): expired first.
            (
                json!({"iss": ISSUER, "aud": "web", "sub": "alice", "iat": NOW - 172_800, "exp": NOW - 169_200}),
                IdentityError::Expired,
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(
                idp.verifier.verify(&sign(&idp, &claims)).await.err(),
                Some(expected),
                "{claims}"
            );
        }
        // Within leeway: accepted. At the bounds of age and lifetime: accepted.
        assert!(
            idp.verifier
                .verify(&sign(&idp, &with_claim("exp", json!(NOW - 29))))
                .await
                .is_ok()
        );
        let edge = json!({"iss": ISSUER, "aud": "web", "sub": "alice", "iat": NOW - 43_000, "exp": NOW + 200});
        assert!(idp.verifier.verify(&sign(&idp, &edge)).await.is_ok());
    }

    #[tokio::test]
    async fn client_tokens_are_not_visitors() {
        let idp = idp();
        let machine =
            json!({"iss": ISSUER, "aud": "web", "sub": "svc", "client_id": "svc", "iat": NOW - 10, "exp": NOW + 300});
        assert_eq!(
            idp.verifier.verify(&sign(&idp, &machine)).await.err(),
            Some(IdentityError::NotAPerson("client_id"))
        );
        let user_access =
            json!({"iss": ISSUER, "aud": "web", "sub": "alice", "client_id": "svc", "iat": NOW - 10, "exp": NOW + 300});
        assert!(
            idp.verifier.verify(&sign(&idp, &user_access)).await.is_ok(),
            "control: a user's access token"
        );
    }

    #[tokio::test]
    async fn issuer_audience_and_subject_are_enforced() {
        let idp = idp();
        let cases = [
            (
                with_claim("iss", json!("https://idp.example.com/")),
                IdentityError::WrongIssuer,
            ),
            (
                with_claim("iss", json!("https://idp.example.com.evil")),
                IdentityError::WrongIssuer,
            ),
            // jsonwebtoken alone would accept an array containing the issuer.
            (with_claim("iss", json!([ISSUER])), IdentityError::WrongIssuer),
            (
                with_claim("iss", json!(["https://evil.example", ISSUER])),
                IdentityError::WrongIssuer,
            ),
            (with_claim("aud", json!("other")), IdentityError::WrongAudience),
            (with_claim("sub", json!("")), IdentityError::InvalidClaim("sub")),
            (with_claim("sub", json!("al\nice")), IdentityError::InvalidClaim("sub")),
        ];
        for (claims, expected) in cases {
            assert_eq!(
                idp.verifier.verify(&sign(&idp, &claims)).await.err(),
                Some(expected),
                "{claims}"
            );
        }
        let mut no_sub = good_claims();
        no_sub.as_object_mut().unwrap().remove("sub");
        assert_eq!(
            idp.verifier.verify(&sign(&idp, &no_sub)).await.err(),
            Some(IdentityError::MissingClaim("sub"))
        );
    }

    fn forge(header: Value, claims: &Value, signature: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            signature
        )
    }

    #[tokio::test]
    async fn hostile_headers_are_refused() {
        let idp = idp();
        let claims = good_claims();
        let cases = [
            (json!({"alg": "none"}), IdentityError::AlgorithmNotAllowed),
            (json!({"alg": "HS256", "kid": "k1"}), IdentityError::AlgorithmNotAllowed),
            (json!({"alg": "es256", "kid": "k1"}), IdentityError::AlgorithmNotAllowed),
            (
                json!({"alg": "ES256", "kid": "k1", "crit": ["exp"]}),
                IdentityError::ForbiddenHeader("crit"),
            ),
            (
                json!({"alg": "ES256", "kid": "k1", "jku": "https://evil/jwks"}),
                IdentityError::ForbiddenHeader("jku"),
            ),
            (json!({"alg": "ES256", "kid": "other"}), IdentityError::UnknownKey),
            (
                json!({"alg": "ES256", "kid": 7}),
                IdentityError::Malformed("unusable `kid`"),
            ),
            (
                json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}),
                IdentityError::ForbiddenHeader("typ (not an ID token)"),
            ),
            (
                json!({"alg": "ES256", "kid": "k1", "typ": "logout+jwt"}),
                IdentityError::ForbiddenHeader("typ (not an ID token)"),
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(
                idp.verifier.verify(&forge(header.clone(), &claims, "c2ln")).await.err(),
                Some(expected),
                "{header}"
            );
        }
    }

    #[tokio::test]
    async fn untrusted_extra_audiences_and_duplicate_claims_are_refused() {
        let idp = idp();
        assert!(
            idp.verifier
                .verify(&sign(&idp, &with_claim("aud", json!(["web"]))))
                .await
                .is_ok()
        );
        assert_eq!(
            idp.verifier
                .verify(&sign(&idp, &with_claim("aud", json!(["web", "evil"]))))
                .await
                .err(),
            Some(IdentityError::WrongAudience)
        );
        assert_eq!(
            idp.verifier
                .verify(&sign(&idp, &with_claim("aud", json!([]))))
                .await
                .err(),
            Some(IdentityError::WrongAudience)
        );
        // A validly signed payload naming `sub` twice.
        let payload = format!(
            r#"{{"iss":"{ISSUER}","aud":"web","sub":"alice","sub":"mallory","iat":{},"exp":{}}}"#,
            NOW - 10,
            NOW + 300
        );
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &idp.signing, Algorithm::ES256).unwrap();
        let token = format!("{signing_input}.{signature}");
        assert_eq!(
            idp.verifier.verify(&token).await.err(),
            Some(IdentityError::Malformed("duplicate claim names"))
        );
    }

    #[tokio::test]
    async fn psychic_and_der_ecdsa_signatures_are_refused() {
        use aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let idp = idp();
        let token = sign(&idp, &good_claims());
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        // CVE-2022-21449: r = s = 0, and r = s = n (the P-256 group order).
        let order = [
            0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6,
            0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
        ];
        let zero = URL_SAFE_NO_PAD.encode([0u8; 64]);
        let order_twice = URL_SAFE_NO_PAD.encode([order, order].concat());
        for signature in [zero, order_twice] {
            let forged = format!("{signing_input}.{signature}");
            assert_eq!(
                idp.verifier.verify(&forged).await.err(),
                Some(IdentityError::BadSignature)
            );
        }
        // A genuine signature by the right key, but DER-encoded instead of JWS's r || s.
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let fixed = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let der_signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let point = fixed.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k2", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        let clock = Arc::new(FixedClock::at(NOW));
        let keys = Arc::new(JwksCache::new(
            Arc::new(StaticJwks(json!({"keys": [jwk]}))),
            clock.clone(),
            vec![JwsAlgorithm::ES256],
            JwksCacheSettings::default(),
        ));
        let policy = BearerPolicy {
            issuer: ISSUER.into(),
            audiences: vec!["web".into()],
            algorithms: vec![JwsAlgorithm::ES256],
            leeway_seconds: 30,
            visitor: VisitorPolicy {
                max_token_age_seconds: 43_200,
                required_claim: None,
            },
        };
        let verifier = BearerVerifier::new(policy, keys, clock);
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"k2"}"#),
            URL_SAFE_NO_PAD.encode(good_claims().to_string())
        );
        let der = der_signer.sign(&rng, input.as_bytes()).unwrap();
        let raw = fixed.sign(&rng, input.as_bytes()).unwrap();
        assert!(
            verifier
                .verify(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw.as_ref())))
                .await
                .is_ok(),
            "control"
        );
        assert!(
            verifier
                .verify(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(der.as_ref())))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn tampered_or_truncated_tokens_are_refused() {
        let idp = idp();
        let token = sign(&idp, &good_claims());
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        let other = sign(&idp, &with_claim("sub", json!("mallory")));
        let (_, other_signature) = other.rsplit_once('.').unwrap();
        let swapped = format!("{signing_input}.{other_signature}");
        assert_eq!(
            idp.verifier.verify(&swapped).await.err(),
            Some(IdentityError::BadSignature)
        );
        assert!(matches!(
            idp.verifier.verify(signing_input).await,
            Err(IdentityError::Malformed(_))
        ));
        assert!(matches!(
            idp.verifier.verify(&format!("{signing_input}.")).await,
            Err(IdentityError::Malformed(_))
        ));
        assert!(matches!(
            idp.verifier.verify(&format!("{token}.x.y")).await,
            Err(IdentityError::Malformed(_))
        ));
        assert!(matches!(
            idp.verifier.verify(&"a".repeat(MAX_TOKEN_BYTES + 1)).await,
            Err(IdentityError::Malformed(_))
        ));
    }
}
