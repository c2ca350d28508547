//! Rules that make a verified token a *visitor's* login: not too old, not long-lived, issued to a
//! person rather than to a client application, and carrying the claim the operator requires.
//!
//! The signature, issuer and audience checks say who issued a token and for whom; they do not say
//! what it is. A client-credentials access token from the same provider passes all of them, and so
//! does a two-day-old ID token whose `exp` someone set far out. These rules apply to every token
//! source (our bearer verification and API Gateway's JWT authorizer), so the two cannot differ.

use serde_json::{Map, Value};

use super::IdentityError;

/// What a verified token must also satisfy to count as a visitor's login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorPolicy {
    /// Bounds `now - iat` and `exp - iat`: a login older (or meant to live longer) than this is
    /// not accepted. Of the order of a login session (default 12 hours, see config).
    pub max_token_age_seconds: u64,
    /// A claim every visitor token must carry (for example `nonce`, `auth_time` or `scp`).
    pub required_claim: Option<String>,
}

/// Claims naming the client application a token was issued to: RFC 9068 and RFC 8693
/// `client_id`, OIDC `azp`, Entra ID v1 `appid`, Okta `cid`.
const CLIENT_ID_CLAIMS: [&str; 4] = ["client_id", "azp", "appid", "cid"];

/// Refuses tokens that identify a client application rather than a person.
///
/// Each rule matches a documented client-credentials shape and none matches a person's token:
/// - RFC 9068 2.2: with no resource owner (client credentials), `sub` is the client's identifier,
///   so `sub` equal to `client_id`/`azp`/`appid`/`cid` (Okta) is a client. A user's access token
///   also has `client_id`, but its `sub` is the user, so it still passes.
/// - Auth0 writes `sub: "<client_id>@clients"` and `gty: "client-credentials"`.
/// - Entra ID app-only tokens have `idtyp: "app"` (optional claim) and `sub` equal to `oid` (the
///   service principal); for a user, `sub` is a per-application pairwise id that differs from `oid`.
/// - An ID token's `aud` is the client it was issued to; `sub` equal to an audience names that
///   client (or our own service) as the "person".
///
/// Shapes without such a marker (a Keycloak service account has a `sub` of its own) are what
/// `required_claim` is for: a claim only a person's login carries (`auth_time`, `sid`).
pub fn refuse_client_tokens(claims: &Map<String, Value>) -> Result<(), IdentityError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let Some(sub) = text("sub") else { return Ok(()) };
    if text("idtyp").is_some_and(|t| t.eq_ignore_ascii_case("app")) {
        return Err(IdentityError::NotAPerson("idtyp"));
    }
    if text("gty").is_some_and(|g| g == "client-credentials" || g == "client_credentials") {
        return Err(IdentityError::NotAPerson("gty"));
    }
    for name in CLIENT_ID_CLAIMS {
        if let Some(client) = text(name)
            && (sub == client || sub.strip_suffix("@clients") == Some(client))
        {
            return Err(IdentityError::NotAPerson(name));
        }
    }
    if text("oid") == Some(sub) {
        return Err(IdentityError::NotAPerson("oid"));
    }
    if audiences(claims.get("aud")).any(|aud| aud == sub) {
        return Err(IdentityError::NotAPerson("aud"));
    }
    Ok(())
}

/// The `aud` values, from a JSON string or array, or from API Gateway's rendering of an array as
/// one string (`"[a b]"`).
fn audiences(aud: Option<&Value>) -> Box<dyn Iterator<Item = &str> + '_> {
    match aud {
        Some(Value::String(aud)) => match aud.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
            Some(list) => Box::new(list.split(' ').filter(|a| !a.is_empty())),
            None => Box::new(std::iter::once(aud.as_str())),
        },
        Some(Value::Array(members)) => Box::new(members.iter().filter_map(Value::as_str)),
        _ => Box::new(std::iter::empty()),
    }
}

impl VisitorPolicy {
    /// The kind and required-claim rules. `as_strings`: the claims come from API Gateway's
    /// authorizer, which passes every value as a string.
    pub fn check_kind(&self, claims: &Map<String, Value>, as_strings: bool) -> Result<(), IdentityError> {
        refuse_client_tokens(claims)?;
        if let Some(name) = &self.required_claim
            && !claims
                .get(name)
                .is_some_and(|value| required_value_ok(name, value, as_strings))
        {
            return Err(IdentityError::MissingRequiredClaim);
        }
        Ok(())
    }

    /// `exp - iat` within the bound: a token meant to live longer than a login session is not a
    /// visitor's login (and `now - iat < exp - iat` whenever `exp` is still ahead).
    pub fn check_lifetime(&self, iat: u64, exp: u64) -> Result<(), IdentityError> {
        if exp.saturating_sub(iat) > self.max_token_age_seconds {
            Err(IdentityError::LifetimeTooLong)
        } else {
            Ok(())
        }
    }

    /// `now - iat` within the bound (plus the clock-skew leeway).
    pub fn check_age(&self, iat: u64, now: u64, leeway: u64) -> Result<(), IdentityError> {
        if now.saturating_sub(iat) > self.max_token_age_seconds.saturating_add(leeway) {
            Err(IdentityError::TooOld)
        } else {
            Ok(())
        }
    }

    /// API Gateway's authorizer passes every claim as a string and has already checked `exp`
    /// against its clock; what is left is the lifetime and the kind. `iat` and `exp` must be
    /// integer strings, as our own verification requires integers.
    pub fn check_authorizer_claims(&self, claims: &Map<String, Value>) -> Result<(), IdentityError> {
        let time = |name: &'static str| match claims.get(name) {
            None => Err(IdentityError::MissingClaim(name)),
            Some(Value::String(text)) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse::<u64>().map_err(|_| IdentityError::InvalidClaim(name))
            }
            Some(_) => Err(IdentityError::InvalidClaim(name)),
        };
        let (iat, exp) = (time("iat")?, time("exp")?);
        self.check_lifetime(iat, exp)?;
        self.check_kind(claims, true)
    }
}

/// A required claim counts when it has its registered type (OIDC Core 2: `auth_time` a
/// NumericDate, `nonce`/`acr`/`sid` strings) or, for any other claim, says something.
fn required_value_ok(name: &str, value: &Value, as_strings: bool) -> bool {
    let digits = |text: &str| !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
    match (name, value) {
        ("auth_time", Value::Number(n)) => n.as_u64().is_some(),
        ("auth_time", Value::String(text)) => as_strings && digits(text),
        ("auth_time", _) => false,
        ("nonce" | "acr" | "sid", Value::String(text)) => !text.trim().is_empty(),
        ("nonce" | "acr" | "sid", _) => false,
        (_, value) => meaningful(value),
    }
}

/// Not null, false, an empty string, an empty array or an object: an operator naming `scp`
/// means a real value.
fn meaningful(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) | Value::Object(_) => false,
        Value::String(text) => !text.trim().is_empty(),
        Value::Array(members) => !members.is_empty(),
        Value::Bool(true) | Value::Number(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(required: Option<&str>) -> VisitorPolicy {
        VisitorPolicy {
            max_token_age_seconds: 43_200,
            required_claim: required.map(String::from),
        }
    }

    fn policy_for(claim: &str) -> VisitorPolicy {
        policy(Some(claim))
    }

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn client_credentials_shapes_are_refused_and_people_pass() {
        let refused = [
            (json!({"sub": "app-1", "client_id": "app-1", "aud": "api"}), "client_id"),
            (json!({"sub": "0oa1", "cid": "0oa1", "aud": "api://default"}), "cid"),
            (
                json!({"sub": "abc@clients", "azp": "abc", "gty": "client-credentials", "aud": "api"}),
                "gty",
            ),
            (json!({"sub": "abc@clients", "azp": "abc", "aud": "api"}), "azp"),
            (
                json!({"sub": "sp-oid", "oid": "sp-oid", "azp": "app-id", "roles": ["Read"], "aud": "api"}),
                "oid",
            ),
            (
                json!({"sub": "sp-oid", "oid": "sp-oid", "appid": "app-id", "idtyp": "app", "aud": "api"}),
                "idtyp",
            ),
            (json!({"sub": "web", "aud": "web"}), "aud"),
            (json!({"sub": "web", "aud": ["web", "api"]}), "aud"),
            (json!({"sub": "web", "aud": "[api web]"}), "aud"),
        ];
        for (claims, rule) in refused {
            assert_eq!(
                refuse_client_tokens(&map(claims.clone())),
                Err(IdentityError::NotAPerson(rule)),
                "{claims}"
            );
        }
        let people = [
            json!({"sub": "alice", "aud": "web", "azp": "web", "nonce": "n"}),
            json!({"sub": "alice", "client_id": "web", "aud": "api", "scope": "openid"}),
            json!({"sub": "pairwise-x", "oid": "user-oid", "idtyp": "user", "scp": "chat", "aud": "api"}),
            json!({"sub": "auth0|123", "azp": "abc", "gty": "password", "aud": "api"}),
        ];
        for claims in people {
            assert_eq!(refuse_client_tokens(&map(claims.clone())), Ok(()), "{claims}");
        }
    }

    #[test]
    fn the_required_claim_must_say_something() {
        let policy = policy(Some("auth_time"));
        for value in [
            json!(null),
            json!(false),
            json!(""),
            json!(" "),
            json!([]),
            json!({}),
            json!("1800000000"),
            json!(1.5),
            json!(-1),
        ] {
            let claims = map(json!({"sub": "alice", "auth_time": value}));
            assert_eq!(
                policy.check_kind(&claims, false),
                Err(IdentityError::MissingRequiredClaim),
                "{value}"
            );
        }
        assert_eq!(
            policy.check_kind(&map(json!({"sub": "alice"})), false),
            Err(IdentityError::MissingRequiredClaim)
        );
        assert_eq!(
            policy.check_kind(&map(json!({"sub": "alice", "auth_time": 1_800_000_000})), false),
            Ok(())
        );
        // From the authorizer every value is a string; an integer string is the NumericDate.
        assert_eq!(
            policy.check_kind(&map(json!({"sub": "alice", "auth_time": "1800000000"})), true),
            Ok(())
        );
        assert_eq!(
            policy.check_kind(&map(json!({"sub": "alice", "auth_time": "soon"})), true),
            Err(IdentityError::MissingRequiredClaim)
        );
        let scope = policy_for("scp");
        for value in [json!(null), json!(false), json!(""), json!([]), json!({})] {
            assert_eq!(
                scope.check_kind(&map(json!({"sub": "alice", "scp": value})), false),
                Err(IdentityError::MissingRequiredClaim),
                "{value}"
            );
        }
        assert_eq!(
            scope.check_kind(&map(json!({"sub": "alice", "scp": ["chat"]})), false),
            Ok(())
        );
        assert_eq!(
            policy_for("nonce").check_kind(&map(json!({"sub": "alice", "nonce": 7})), false),
            Err(IdentityError::MissingRequiredClaim)
        );
    }

    #[test]
    fn age_and_lifetime_are_bounded_from_iat() {
        let policy = policy(None);
        let now = 1_800_000_000;
        assert_eq!(policy.check_age(now - 2 * 86_400, now, 30), Err(IdentityError::TooOld));
        assert_eq!(policy.check_age(now - 43_230, now, 30), Ok(()));
        assert_eq!(policy.check_age(now - 43_231, now, 30), Err(IdentityError::TooOld));
        assert_eq!(policy.check_lifetime(now, now + 43_200), Ok(()));
        assert_eq!(
            policy.check_lifetime(now, now + 43_201),
            Err(IdentityError::LifetimeTooLong)
        );
        assert_eq!(
            policy.check_lifetime(now, u64::MAX),
            Err(IdentityError::LifetimeTooLong)
        );
    }

    #[test]
    fn authorizer_claims_are_checked_as_strings() {
        let policy = policy(None);
        let ok = json!({"sub": "alice", "aud": "web", "iat": "1800000000", "exp": "1800003600"});
        assert_eq!(policy.check_authorizer_claims(&map(ok)), Ok(()));
        let cases = [
            (
                json!({"sub": "alice", "iat": "1800000000", "exp": "1800172800"}),
                IdentityError::LifetimeTooLong,
            ),
            (
                json!({"sub": "alice", "exp": "1800003600"}),
                IdentityError::MissingClaim("iat"),
            ),
            (
                json!({"sub": "alice", "iat": "1.8e9", "exp": "1800003600"}),
                IdentityError::InvalidClaim("iat"),
            ),
            (
                json!({"sub": "alice", "iat": "-1", "exp": "1800003600"}),
                IdentityError::InvalidClaim("iat"),
            ),
            (
                json!({"sub": "alice", "iat": "1800000000", "exp": "99999999999999999999999"}),
                IdentityError::InvalidClaim("exp"),
            ),
            (
                json!({"sub": "c", "client_id": "c", "iat": "1800000000", "exp": "1800003600"}),
                IdentityError::NotAPerson("client_id"),
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(
                policy.check_authorizer_claims(&map(claims.clone())),
                Err(expected),
                "{claims}"
            );
        }
    }
}
