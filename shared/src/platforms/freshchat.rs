//! Freshchat / Freshdesk messaging (the Web Chat widget's JWT user authentication): the profile
//! section, the token claims, how they are built from the verified visitor and the widget's UUID,
//! and the key (the account's one "encryption key", HS256).
//!
//! The header is `{"alg":"HS256","typ":"JWT"}` (no `kid`), signed with the UTF-8 bytes of the
//! encryption key Freshchat generates once per account (Admin Settings, Channels, Web Chat, User
//! authentication; the same key for every widget, and no second key, so no overlap rotation).
//! The claims are `freshchat_uuid`, `reference_id` (the stable user id from the verified login),
//! `iat`, `exp` (short: 900 s unless set, at most 3600) and the optional `first_name`,
//! `last_name`, `email` and `phone_number`.
//!
//! `freshchat_uuid` is the one value that comes from the page: the widget's own id for this
//! browser (`fcWidget.user.getUUID()`), which the token binds to the verified `reference_id`. The
//! body must be exactly `{"freshchat_uuid": "<uuid>"}` with the UUID in its canonical form (36
//! characters, 8-4-4-4-12 lowercase hex digits); any other member (a body that tries to set
//! `reference_id` or `email`), a missing or malformed UUID is refused before any key is read. The
//! page passes `body.token` to `fcWidget.authenticate`, so the answer is `{"token": "<jwt>"}`.
//! Freshchat documents less of this contract than the other vendors; what is unconfirmed is
//! configurable here and listed on the setup page.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, Presence, Redacted, ResponseShape, SettingError, TokenEndpoint,
    redacted_debug, subject_from_sub, text,
};
use crate::mapping::{ClaimRule, MappingError};
use crate::values::SecretName;
use crate::values::VerifiedClaims;
use crate::values::{PageInput, PageInputError};

/// The one member the page's body may hold.
pub const PAGE_MEMBER: &str = "freshchat_uuid";
const PAGE_MEMBERS: &[&str] = &[PAGE_MEMBER];
/// The longest lifetime we sign. Freshchat documents none; a copied token identifies the visitor
/// until it expires, so an hour is the most, and 900 s the default.
pub const MAX_LIFETIME_SECONDS: u64 = 3600;
pub const DEFAULT_LIFETIME_SECONDS: u64 = 900;
/// The longest value we sign. Freshchat documents no limit; a bound keeps a hostile login from
/// making a token nobody can use.
pub const MAX_VALUE_CHARS: usize = 255;

fn default_lifetime() -> u64 {
    DEFAULT_LIFETIME_SECONDS
}
fn first_name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("given_name"))
}
fn last_name_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("family_name"))
}
fn email_rule() -> Option<ClaimRule> {
    Some(ClaimRule::from_claim("email"))
}

/// A Freshchat Web Chat profile (`"platform": "freshchat"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshchatProfileConfig {
    /// The secret holding the account's encryption key, as Freshchat shows it (used as UTF-8
    /// bytes, never base64-decoded).
    pub encryption_key_secret: SecretName,
    /// `exp - iat`: 1-3600 seconds, default 900.
    #[serde(default = "default_lifetime")]
    pub token_lifetime_seconds: u64,
    /// `reference_id`: the stable user id (default: the login's `sub`); a visitor without it is
    /// refused, whatever the rule's `if_missing` says.
    #[serde(default = "subject_from_sub")]
    pub reference_id: ClaimRule,
    /// `first_name` (default: the login's `given_name`; `null` sends none).
    #[serde(default = "first_name_rule")]
    pub first_name: Option<ClaimRule>,
    /// `last_name` (default: the login's `family_name`; `null` sends none).
    #[serde(default = "last_name_rule")]
    pub last_name: Option<ClaimRule>,
    /// `email` (default: the login's `email`; `null` sends none).
    #[serde(default = "email_rule")]
    pub email: Option<ClaimRule>,
    /// `phone_number`: sent only when the profile names a claim (a phone number is personal data
    /// the chat rarely needs).
    #[serde(default)]
    pub phone_number: Option<ClaimRule>,
}

impl Platform for FreshchatProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if !(1..=MAX_LIFETIME_SECONDS).contains(&self.token_lifetime_seconds) {
            return Err(SettingError::new(
                "token_lifetime_seconds",
                format!("must be 1-{MAX_LIFETIME_SECONDS} (a short lifetime: 900 unless you need another)"),
            ));
        }
        // A masked national id is shared by everyone with the same birth date: not a user id.
        if self.reference_id.mask.is_some() {
            return Err(SettingError::new(
                "reference_id.mask",
                "reference_id must be a stable per-user id, never a masked value",
            ));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        KeyKind::Pasted(self.encryption_key_secret.clone())
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        Some(self)
    }
}

impl TokenEndpoint for FreshchatProfileConfig {
    /// `{"token": jwt}`: the page passes `body.token` to `fcWidget.authenticate`.
    fn shape(&self) -> ResponseShape {
        ResponseShape::Token
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        page: &PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        Ok(Box::new(freshchat_claims(self, identity, page, now)?))
    }
}

/// Builds Freshchat's claims. The page's body is checked first (a malformed request is refused
/// whoever sends it), then the visitor: no usable `reference_id`, or a value over 255
/// characters, makes no token.
pub fn freshchat_claims(
    profile: &FreshchatProfileConfig,
    identity: &VerifiedClaims,
    page: &PageInput,
    now: u64,
) -> Result<FreshchatClaims, ClaimsError> {
    let freshchat_uuid = page_uuid(page)?;
    let rule = &profile.reference_id;
    let reference_id = rule.apply(identity)?.ok_or_else(|| MappingError::MissingClaim {
        claim: rule.claim.clone(),
    })?;
    let optional = |rule: &Option<ClaimRule>, field| {
        text(rule.as_ref(), identity)?
            .map(|value| bounded(value, field))
            .transpose()
    };
    Ok(FreshchatClaims {
        freshchat_uuid,
        reference_id: bounded(reference_id, "reference_id")?,
        first_name: optional(&profile.first_name, "first_name")?,
        last_name: optional(&profile.last_name, "last_name")?,
        email: optional(&profile.email, "email")?,
        phone_number: optional(&profile.phone_number, "phone_number")?,
        iat: now,
        exp: now + profile.token_lifetime_seconds,
    })
}

/// The body's `freshchat_uuid`: exactly that member, a string, a canonical UUID.
fn page_uuid(page: &PageInput) -> Result<FreshchatUuid, PageInputError> {
    page.only(PAGE_MEMBERS)?;
    let value = page
        .get(PAGE_MEMBER)
        .ok_or(PageInputError::Missing { member: PAGE_MEMBER })?;
    let invalid = |expected| PageInputError::Invalid {
        member: PAGE_MEMBER,
        expected,
    };
    let text = value.as_str().ok_or(invalid("a string"))?;
    FreshchatUuid::parse(text).ok_or(invalid(
        "the widget's UUID in canonical form: 8-4-4-4-12 lowercase hex digits, not the nil or max UUID",
    ))
}

fn bounded(value: String, field: &'static str) -> Result<String, ClaimsError> {
    if (1..=MAX_VALUE_CHARS).contains(&value.chars().count()) {
        Ok(value)
    } else {
        Err(ClaimsError::InvalidIdentifier {
            field,
            max: MAX_VALUE_CHARS,
        })
    }
}

/// The widget's id for this browser, in the canonical form RFC 9562 prints (36 ASCII characters:
/// 8-4-4-4-12 lowercase hex digits with hyphens). No braces, no `urn:uuid:`, no upper case, no
/// whitespace: the token carries exactly what the widget gave. The version and variant bits are
/// not checked (Freshchat does not document which version it uses); the nil and max UUIDs are
/// refused, as no widget is given those.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FreshchatUuid(String);

impl FreshchatUuid {
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        let shaped = bytes.len() == 36
            && bytes.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
            });
        let special = value.bytes().filter(|b| *b != b'-').all(|b| b == b'0')
            || value.bytes().filter(|b| *b != b'-').all(|b| b == b'f');
        (shaped && !special).then(|| Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FreshchatUuid {
    /// Untrusted page input: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FreshchatUuid([redacted])")
    }
}

impl Presence for FreshchatUuid {
    fn presence(&self) -> Box<dyn fmt::Debug + '_> {
        Box::new(Redacted)
    }
}

/// The claims of a Freshchat user token. Field order is the serialized order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct FreshchatClaims {
    pub freshchat_uuid: FreshchatUuid,
    pub reference_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    pub iat: u64,
    pub exp: u64,
}

redacted_debug!(FreshchatClaims { freshchat_uuid, reference_id, first_name, last_name, email, phone_number; iat, exp });

impl PlatformClaims for FreshchatClaims {
    fn expires_at(&self) -> u64 {
        self.exp
    }

    fn payload(&self) -> Result<Box<RawValue>, serde_json::Error> {
        super::payload_of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UUID: &str = "3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d";

    fn profile(extra: serde_json::Value) -> FreshchatProfileConfig {
        let mut document = json!({"encryption_key_secret": "whoscalling/freshchat-key"});
        document
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(document).unwrap()
    }

    fn visitor(claims: serde_json::Value) -> VerifiedClaims {
        VerifiedClaims::from_json(claims).unwrap()
    }

    fn page(body: &str) -> PageInput {
        PageInput::from_json(body.as_bytes()).unwrap()
    }

    fn uuid_page(uuid: &str) -> PageInput {
        page(&json!({ PAGE_MEMBER: uuid }).to_string())
    }

    /// A sample verified visitor and the widget's UUID through the default profile: the exact
    /// payload, the key and the shape.
    #[test]
    fn builds_claims_from_a_verified_visitor_and_the_widget_uuid() {
        let profile = profile(json!({"phone_number": {"claim": "phone_number"}}));
        assert_eq!(profile.validate(), Ok(()));
        let alice = visitor(
            json!({"sub": "alice-7", "given_name": "Alice", "family_name": "Nordmann",
            "email": "alice@example.com", "phone_number": "+4712345678", "name": "Alice Nordmann"}),
        );
        let claims = freshchat_claims(&profile, &alice, &uuid_page(UUID), 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"freshchat_uuid":"3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d","reference_id":"alice-7","first_name":"Alice","last_name":"Nordmann","email":"alice@example.com","phone_number":"+4712345678","iat":1000,"exp":1900}"#
        );
        assert_eq!(
            profile.key(),
            KeyKind::Pasted(SecretName::try_from("whoscalling/freshchat-key".to_string()).unwrap())
        );
        assert_eq!(profile.shape(), ResponseShape::Token);
        // Optional parts are left out, not sent empty; the phone number only when asked for.
        let bare = freshchat_claims(
            &self::profile(json!({})),
            &visitor(json!({"sub": "bob", "phone_number": "+47"})),
            &uuid_page(UUID),
            5,
        )
        .unwrap();
        assert_eq!(
            bare.payload().unwrap().get(),
            r#"{"freshchat_uuid":"3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d","reference_id":"bob","iat":5,"exp":905}"#
        );
    }

    #[test]
    fn a_visitor_without_reference_id_is_refused_even_when_the_rule_says_skip() {
        let skipping = profile(json!({"reference_id": {"claim": "customer_no", "if_missing": "skip"}}));
        let refused = freshchat_claims(&skipping, &visitor(json!({"sub": "alice"})), &uuid_page(UUID), 1).unwrap_err();
        assert!(
            matches!(&refused, ClaimsError::Mapping(MappingError::MissingClaim { claim }) if claim == "customer_no"),
            "{refused:?}"
        );
        // Control: the same profile with the claim present mints.
        let ok = freshchat_claims(
            &skipping,
            &visitor(json!({"sub": "a", "customer_no": "c-1"})),
            &uuid_page(UUID),
            1,
        );
        assert_eq!(ok.unwrap().reference_id, "c-1");
    }

    #[test]
    fn oversized_or_empty_values_are_refused() {
        let profile = profile(json!({"reference_id": {"claim": "customer_no"},
            "phone_number": {"claim": "phone_number"}}));
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        for (claims, field) in [
            (json!({"sub": "a", "customer_no": long}), "reference_id"),
            (json!({"sub": "a", "customer_no": ""}), "reference_id"),
            (
                json!({"sub": "a", "customer_no": "c", "given_name": long}),
                "first_name",
            ),
            (
                json!({"sub": "a", "customer_no": "c", "family_name": long}),
                "last_name",
            ),
            (json!({"sub": "a", "customer_no": "c", "email": long}), "email"),
            (
                json!({"sub": "a", "customer_no": "c", "phone_number": long}),
                "phone_number",
            ),
        ] {
            let refused = freshchat_claims(&profile, &visitor(claims), &uuid_page(UUID), 1).unwrap_err();
            assert!(
                matches!(refused, ClaimsError::InvalidIdentifier { field: f, max: MAX_VALUE_CHARS } if f == field),
                "{field}: {refused:?}"
            );
        }
        // Control: 255 characters (not bytes: `ø` is two) pass.
        let edge = "ø".repeat(MAX_VALUE_CHARS);
        let visitor = visitor(json!({"sub": "a", "customer_no": edge, "given_name": edge}));
        assert!(freshchat_claims(&profile, &visitor, &uuid_page(UUID), 1).is_ok());
    }

    /// Hostile page bodies by class: each is refused with the error that names what is wrong,
    /// before the visitor is even looked at; the valid UUID (and one of another version) passes.
    #[test]
    fn the_page_body_must_be_exactly_a_canonical_freshchat_uuid() {
        let profile = profile(json!({}));
        let alice = visitor(json!({"sub": "alice"}));
        let claims = |page: &PageInput| freshchat_claims(&profile, &alice, page, 1);
        let not_a_uuid = |e: &ClaimsError| {
            matches!(e, ClaimsError::Page(PageInputError::Invalid { member: PAGE_MEMBER, expected })
                if expected.starts_with("the widget's UUID"))
        };
        let not_a_string = |e: &ClaimsError| {
            matches!(
                e,
                ClaimsError::Page(PageInputError::Invalid {
                    member: PAGE_MEMBER,
                    expected: "a string"
                })
            )
        };
        let missing = |e: &ClaimsError| matches!(e, ClaimsError::Page(PageInputError::Missing { member: PAGE_MEMBER }));
        let extra = |e: &ClaimsError| matches!(e, ClaimsError::Page(PageInputError::UnexpectedMember { .. }));

        // Missing: no body, an empty object.
        assert!(missing(&claims(&PageInput::empty()).unwrap_err()));
        assert!(missing(&claims(&page("{}")).unwrap_err()));

        // Types.
        for body in [
            r#"{"freshchat_uuid": null}"#,
            r#"{"freshchat_uuid": 1}"#,
            r#"{"freshchat_uuid": 3.5e1}"#,
            r#"{"freshchat_uuid": true}"#,
            r#"{"freshchat_uuid": ["3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d"]}"#,
            r#"{"freshchat_uuid": {"uuid": "3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d"}}"#,
            r#"{"freshchat_uuid": {"data": {"uuid": "3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d"}}}"#,
        ] {
            assert!(not_a_string(&claims(&page(body)).unwrap_err()), "{body}");
        }

        // Shapes, lengths, case, other notations, encodings, control characters, whitespace,
        // Unicode look-alikes and the special UUIDs.
        let bad = [
            String::new(),
            UUID[..35].to_string(),
            format!("{UUID}0"),
            "x".repeat(10_000),
            UUID.to_uppercase(),
            "3B9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d".into(),
            format!("{{{UUID}}}"),
            format!("urn:uuid:{UUID}"),
            UUID.replace('-', ""),
            "3b9c2a4e7-f1d-4c8a-9e2b-5d6f7a8b9c0d".into(),
            "3b9c2a4e_7f1d_4c8a_9e2b_5d6f7a8b9c0d".into(),
            "3b9c2a4g-7f1d-4c8a-9e2b-5d6f7a8b9c0d".into(),
            "3b9c2a4e%2D7f1d-4c8a-9e2b-5d6f7a8b9c0d".into(),
            "M2I5YzJhNGUtN2YxZC00YzhhLTllMmItNWQ2ZjdhOGI5YzBk".into(),
            format!(" {UUID}"),
            format!("{UUID} "),
            format!("{UUID}\n"),
            format!("\t{}", &UUID[1..]),
            format!("{}\0", &UUID[..35]),
            format!("{}\u{1f}", &UUID[..35]),
            format!("{}\u{7f}", &UUID[..35]),
            format!("{UUID}\u{200b}"),
            UUID.replace('-', "\u{2010}"),
            UUID.replace('-', "\u{2011}"),
            UUID.replace('-', "\u{2212}"),
            UUID.replace('-', "\u{2013}"),
            UUID.replace('a', "\u{430}"),
            UUID.replace('3', "\u{ff13}"),
            UUID.replace('3', "\u{663}"),
            UUID.replacen('a', "a\u{301}", 1),
            "00000000-0000-0000-0000-000000000000".into(),
            "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
        ];
        for uuid in &bad {
            let refused = claims(&uuid_page(uuid)).unwrap_err();
            assert!(not_a_uuid(&refused), "{uuid:?}: {refused:?}");
        }

        // Extra members: identity, the token's own claims, near-miss names of the member.
        for member in [
            "reference_id",
            "email",
            "first_name",
            "phone_number",
            "sub",
            "exp",
            "iat",
            "Freshchat_uuid",
            "freshchat_uuid ",
            "freshchat_uuid2",
            "freshchat\u{2010}uuid",
            "",
        ] {
            let body = json!({ PAGE_MEMBER: UUID, member: "mallory" }).to_string();
            let refused = claims(&page(&body)).unwrap_err();
            assert!(extra(&refused), "{body}: {refused:?}");
        }
        // A near-miss name alone is still an unexpected member (not a missing one).
        assert!(extra(
            &claims(&page(r#"{"freshchatUuid": "3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d"}"#)).unwrap_err()
        ));

        // The page is checked first: a bad body from a visitor without reference_id is still a 400.
        let by_customer_no = self::profile(json!({"reference_id": {"claim": "customer_no"}}));
        let refused = freshchat_claims(&by_customer_no, &alice, &uuid_page("nope"), 1).unwrap_err();
        assert!(not_a_uuid(&refused), "{refused:?}");

        // Controls: the canonical UUID, another version (v1, v7), as JSON escapes, all pass.
        for uuid in [
            UUID,
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            "01890a5d-ac96-774b-bcce-b302099a8057",
        ] {
            let minted = claims(&uuid_page(uuid)).unwrap();
            assert_eq!(minted.freshchat_uuid.as_str(), uuid);
        }
        let escaped = page(r#"{"freshchat_uuid": "3b9c2a4e\u002d7f1d-4c8a-9e2b-5d6f7a8b9c0d"}"#);
        assert_eq!(claims(&escaped).unwrap().freshchat_uuid.as_str(), UUID);
    }

    #[test]
    fn page_errors_name_no_value_the_page_sent() {
        let profile = profile(json!({}));
        let alice = visitor(json!({"sub": "alice"}));
        for body in [
            r#"{"freshchat_uuid": "mallory-uuid"}"#,
            r#"{"freshchat_uuid": "3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d", "mallory@example.net": "x"}"#,
        ] {
            let message = freshchat_claims(&profile, &alice, &page(body), 1)
                .unwrap_err()
                .to_string();
            assert!(message.contains("freshchat_uuid"), "{message}");
            for value in ["mallory", "3b9c2a4e"] {
                assert!(!message.contains(value), "{value} in {message}");
            }
        }
    }

    #[test]
    fn settings_are_checked() {
        for (extra, field) in [
            (json!({"token_lifetime_seconds": 0}), "token_lifetime_seconds"),
            (json!({"token_lifetime_seconds": 3601}), "token_lifetime_seconds"),
            (
                json!({"reference_id": {"claim": "nin", "mask": "national_id"}}),
                "reference_id.mask",
            ),
        ] {
            let error = profile(extra.clone()).validate().unwrap_err();
            assert_eq!(error.field, field, "{extra}");
        }
        // Controls: the edges pass; the default lifetime is 900.
        assert_eq!(profile(json!({"token_lifetime_seconds": 3600})).validate(), Ok(()));
        assert_eq!(profile(json!({"token_lifetime_seconds": 1})).validate(), Ok(()));
        assert_eq!(profile(json!({})).token_lifetime_seconds, 900);
        let unknown = serde_json::from_value::<FreshchatProfileConfig>(
            json!({"encryption_key_secret": "s", "freshchat_uuid": {"claim": "sub"}}),
        );
        assert!(
            unknown.is_err(),
            "the UUID comes from the page, never from a claim rule"
        );
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let profile = profile(json!({"phone_number": {"claim": "phone_number"}}));
        let alice = visitor(
            json!({"sub": "alice-secret-7", "given_name": "Alice", "family_name": "Nordmann",
            "email": "alice@example.com", "phone_number": "+4712345678"}),
        );
        let claims = freshchat_claims(&profile, &alice, &uuid_page(UUID), 1_000).unwrap();
        let printed = format!("{claims:?} {:?}", claims.freshchat_uuid);
        for value in [
            "alice-secret-7",
            "Alice",
            "Nordmann",
            "alice@example.com",
            "+4712345678",
            "3b9c2a4e",
        ] {
            assert!(!printed.contains(value), "{value} in {printed}");
        }
        for name in [
            "freshchat_uuid",
            "reference_id",
            "first_name",
            "phone_number",
            "iat: 1000",
            "exp: 1900",
        ] {
            assert!(printed.contains(name), "{name} missing from {printed}");
        }
    }
}
