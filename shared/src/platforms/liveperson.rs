//! LivePerson "Authenticated Customer Information": the profile section, the id_token's claims
//! and how they are built. In the implicit flow the brand signs it (RS256) and the page hands it
//! to `lpGetAuthenticationToken`'s callback (`{"token": ...}`); in the code flow LivePerson's
//! server fetches the same claims from our OpenID provider. The key is our rotating key (through
//! our JWKS URL) or a pinned one (a pasted public key); optionally wrapped in a JWE for LivePerson.
//!
//! `iat`/`exp` are seconds (one LivePerson example shows milliseconds; it is wrong). Custom data
//! goes in `lp_sdes`, an **array** of engagement attributes, and only two types are accepted in
//! the authenticated flow: `ctmrinfo` (customer info) and `personal`. The types below can only
//! build those two shapes, with LivePerson's field names and value types.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{
    ClaimsError, KeyKind, Platform, PlatformClaims, ProviderClient, ResponseShape, SettingError, TokenEndpoint, number,
    redacted_debug, text, typed,
};
use crate::clock::civil_date;
use crate::mapping::{ClaimRule, MappingError};
use crate::values::PinName;
use crate::values::SigningAlgorithm;
use crate::values::VerifiedClaims;
use crate::values::{ContentEncryption, KeyEncryption};

/// The OpenID standard claims LivePerson shows the agent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivePersonStandardClaims {
    #[serde(default)]
    pub given_name: Option<ClaimRule>,
    #[serde(default)]
    pub family_name: Option<ClaimRule>,
    #[serde(default)]
    pub email: Option<ClaimRule>,
    #[serde(default)]
    pub phone_number: Option<ClaimRule>,
    #[serde(default)]
    pub gender: Option<ClaimRule>,
    #[serde(default)]
    pub preferred_username: Option<ClaimRule>,
}

impl LivePersonStandardClaims {
    /// Each standard claim with its rule, in the order the id_token names them.
    fn rules(&self) -> [(&'static str, &Option<ClaimRule>); 6] {
        [
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("email", &self.email),
            ("phone_number", &self.phone_number),
            ("gender", &self.gender),
            ("preferred_username", &self.preferred_username),
        ]
    }
}

/// `lp_sdes` `ctmrinfo` fields, each from a claim (LivePerson's field names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomerInfoMapping {
    #[serde(default)]
    pub cstatus: Option<ClaimRule>,
    #[serde(default)]
    pub ctype: Option<ClaimRule>,
    #[serde(default)]
    pub customer_id: Option<ClaimRule>,
    /// A number: a JSON number as it is; a numeric string only with `convert: scalar`.
    #[serde(default)]
    pub balance: Option<ClaimRule>,
    /// An ISO 4217 code, three capital letters (`USD`).
    #[serde(default)]
    pub currency: Option<ClaimRule>,
    #[serde(default)]
    pub social_id: Option<ClaimRule>,
    #[serde(default)]
    pub imei: Option<ClaimRule>,
    #[serde(default)]
    pub user_name: Option<ClaimRule>,
    /// A whole number >= 0, taken like `balance`.
    #[serde(default)]
    pub company_size: Option<ClaimRule>,
    #[serde(default)]
    pub company_branch: Option<ClaimRule>,
    #[serde(default)]
    pub account_name: Option<ClaimRule>,
    #[serde(default)]
    pub role: Option<ClaimRule>,
    /// An ISO date `YYYY-MM-DD`.
    #[serde(default)]
    pub last_payment_date: Option<ClaimRule>,
    /// An ISO date `YYYY-MM-DD`.
    #[serde(default)]
    pub registration_date: Option<ClaimRule>,
    /// An integer, taken like `balance`.
    #[serde(default)]
    pub login_status: Option<ClaimRule>,
}

/// `lp_sdes` `personal` fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalMapping {
    #[serde(default)]
    pub firstname: Option<ClaimRule>,
    #[serde(default)]
    pub lastname: Option<ClaimRule>,
    /// A birth date claim (`YYYY-MM-DD`, like OpenID's `birthdate`); the age is computed.
    #[serde(default)]
    pub age: Option<ClaimRule>,
    #[serde(default)]
    pub email: Option<ClaimRule>,
    #[serde(default)]
    pub phone: Option<ClaimRule>,
    /// `male`/`female` become `MALE`/`FEMALE`; other values are left out.
    #[serde(default)]
    pub gender: Option<ClaimRule>,
    #[serde(default)]
    pub company: Option<ClaimRule>,
    /// `ll-CC` (`en-US`), typically from OpenID's `locale`; `ll_CC` and any case are accepted.
    #[serde(default)]
    pub language: Option<ClaimRule>,
}

/// Wrapping the signed id_token in a JWE that only LivePerson can open.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// LivePerson's RSA public key: single-line base64 SPKI or PEM (not a secret).
    pub public_key: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default = "default_key_encryption")]
    pub alg: KeyEncryption,
    /// LivePerson does not state it; third parties use A256GCM.
    #[serde(default)]
    pub enc: ContentEncryption,
}

fn default_key_encryption() -> KeyEncryption {
    KeyEncryption::RsaOaep256
}

fn yes() -> bool {
    true
}

/// A LivePerson profile (`"platform": "liveperson"`): RS256 id_token with `lp_sdes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivePersonProfileConfig {
    /// `iss`, exactly as configured in LivePerson's authentication connector.
    pub issuer: String,
    pub token_lifetime_seconds: u64,
    /// `sub`: a unique, non-guessable customer id (default: the login's `sub`).
    #[serde(default = "super::subject_from_sub")]
    pub subject: ClaimRule,
    #[serde(default)]
    pub claims: LivePersonStandardClaims,
    #[serde(default)]
    pub customer_info: Option<CustomerInfoMapping>,
    #[serde(default)]
    pub personal: Option<PersonalMapping>,
    #[serde(default)]
    pub encryption: Option<EncryptionConfig>,
    /// Served at `/token/{profile}` (the implicit flow). `false` for a profile that exists only
    /// for the OpenID provider's LivePerson client (the code flow), so enabling the code flow
    /// does not also open an implicit-flow endpoint nobody configured in LivePerson.
    #[serde(default = "yes")]
    pub implicit_flow: bool,
    /// The pasted-key slot this profile signs with, when LivePerson's connector holds a pasted
    /// public key ("JWT Public Key") instead of our JWKS URL. Absent: the rotating key, which
    /// LivePerson must then fetch from the JWKS URL.
    #[serde(default)]
    pub pinned_key: Option<PinName>,
}

impl Platform for LivePersonProfileConfig {
    fn validate(&self) -> Result<(), SettingError> {
        if self.issuer.trim().is_empty() {
            return Err(SettingError::new(
                "issuer",
                "must be the issuer configured in LivePerson",
            ));
        }
        if !(1..=3600).contains(&self.token_lifetime_seconds) {
            return Err(SettingError::new("token_lifetime_seconds", "must be 1-3600"));
        }
        Ok(())
    }

    fn key(&self) -> KeyKind {
        match &self.pinned_key {
            Some(pin) => KeyKind::Pinned(Some(pin.clone())),
            None => KeyKind::Rotating(SigningAlgorithm::RS256),
        }
    }

    fn encryption(&self) -> Option<&EncryptionConfig> {
        self.encryption.as_ref()
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        self.implicit_flow.then_some(self as &dyn TokenEndpoint)
    }

    fn provider_client(&self) -> Option<&dyn ProviderClient> {
        Some(self)
    }
}

impl TokenEndpoint for LivePersonProfileConfig {
    fn shape(&self) -> ResponseShape {
        ResponseShape::Token
    }

    fn claims(
        &self,
        identity: &VerifiedClaims,
        _page: &crate::values::PageInput,
        now: u64,
    ) -> Result<Box<dyn PlatformClaims>, ClaimsError> {
        Ok(Box::new(liveperson_claims(self, identity, now)?))
    }
}

impl ProviderClient for LivePersonProfileConfig {
    fn claims(&self, identity: &VerifiedClaims, now: u64) -> Result<Map<String, Value>, ClaimsError> {
        let claims = liveperson_claims(self, identity, now)?;
        let mut map = match serde_json::to_value(&claims).map_err(ClaimsError::Serialize)? {
            Value::Object(map) => map,
            _ => {
                return Err(ClaimsError::Serialize(serde::ser::Error::custom(
                    "the claims are not an object",
                )));
            }
        };
        // The provider sets these for the id_token itself.
        for registered in ["iss", "iat", "exp"] {
            map.remove(registered);
        }
        Ok(map)
    }

    fn scoped(&self) -> bool {
        false
    }

    fn claim_names(&self) -> Vec<&str> {
        let rules = self.claims.rules();
        let mut names: Vec<&str> = rules
            .into_iter()
            .filter(|(_, rule)| rule.is_some())
            .map(|(name, _)| name)
            .collect();
        if self.customer_info.is_some() || self.personal.is_some() {
            names.push("lp_sdes");
        }
        names
    }

    fn check_claims_without_scope(&self, names: &[String], _profile: &str) -> Result<(), String> {
        match names.is_empty() {
            true => Ok(()),
            false => Err("a `liveperson` profile's claims are LivePerson's contract: leave this out".into()),
        }
    }
}

impl PlatformClaims for LivePersonClaims {
    fn expires_at(&self) -> u64 {
        self.exp
    }

    fn payload(&self) -> Result<Box<RawValue>, serde_json::Error> {
        super::payload_of(self)
    }
}

/// Builds LivePerson's id_token claims (standard claims and `lp_sdes`).
pub fn liveperson_claims(
    profile: &LivePersonProfileConfig,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<LivePersonClaims, ClaimsError> {
    let sub = profile
        .subject
        .apply(identity)?
        .ok_or_else(|| MappingError::MissingClaim {
            claim: profile.subject.claim.clone(),
        })?;
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
        balance: number(
            m.balance.as_ref(),
            identity,
            "a finite number",
            |n| n.as_f64().and_then(Balance::new),
            Balance::parse,
        )?,
        currency: typed(
            m.currency.as_ref(),
            identity,
            "an ISO 4217 currency code (three capital letters, e.g. USD)",
            Currency::parse,
        )?,
        social_id: text(m.social_id.as_ref(), identity)?,
        imei: text(m.imei.as_ref(), identity)?,
        user_name: text(m.user_name.as_ref(), identity)?,
        company_size: number(
            m.company_size.as_ref(),
            identity,
            "a whole number",
            serde_json::Number::as_u64,
            |s| s.trim().parse().ok(),
        )?,
        company_branch: text(m.company_branch.as_ref(), identity)?,
        account_name: text(m.account_name.as_ref(), identity)?,
        role: text(m.role.as_ref(), identity)?,
        last_payment_date: typed(
            m.last_payment_date.as_ref(),
            identity,
            "a YYYY-MM-DD date",
            SdeDate::parse_iso,
        )?,
        registration_date: typed(
            m.registration_date.as_ref(),
            identity,
            "a YYYY-MM-DD date",
            SdeDate::parse_iso,
        )?,
        login_status: number(
            m.login_status.as_ref(),
            identity,
            "an integer",
            serde_json::Number::as_i64,
            |s| s.trim().parse().ok(),
        )?,
    })
}

fn personal(m: &PersonalMapping, identity: &VerifiedClaims, now: u64) -> Result<Personal, MappingError> {
    let today = civil_date(now);
    let email = text(m.email.as_ref(), identity)?;
    let phone = text(m.phone.as_ref(), identity)?;
    let contacts = if email.is_some() || phone.is_some() {
        vec![Contact { email, phone }]
    } else {
        Vec::new()
    };
    Ok(Personal {
        firstname: text(m.firstname.as_ref(), identity)?,
        lastname: text(m.lastname.as_ref(), identity)?,
        age: typed(m.age.as_ref(), identity, "a YYYY-MM-DD birth date", |s| {
            SdeDate::parse_iso(s).and_then(|birth| Age::from_birthdate(birth, today))
        })?,
        contacts,
        // Values other than male/female are not sent (LivePerson has no other value).
        gender: text(m.gender.as_ref(), identity)?
            .as_deref()
            .and_then(Gender::from_claim),
        company: text(m.company.as_ref(), identity)?,
        language: typed(
            m.language.as_ref(),
            identity,
            "a language such as en-US",
            Language::parse,
        )?,
    })
}

/// `Debug` for a value newtype: its name, never the value.
macro_rules! opaque_debug {
    ($($type:ident),*) => {
        $(impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($type), "([redacted])"))
            }
        })*
    };
}
opaque_debug!(SdeDate, Balance, Currency, Language, Age, Gender);

/// `{"day", "month", "year"}` as LivePerson dates take them.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SdeDate {
    day: u8,
    month: u8,
    year: u16,
}

impl SdeDate {
    /// From an ISO date `YYYY-MM-DD` (the OpenID `birthdate` format).
    pub fn parse_iso(text: &str) -> Option<Self> {
        let mut parts = text.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        let (year, month, day) = (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
        ((1..=9999).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day)).then_some(Self {
            day,
            month,
            year,
        })
    }
}

/// `ctmrinfo.info`. Every field optional; an all-empty one is not sent.
#[derive(Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cstatus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// The currency of `balance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub social_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_payment_date: Option<SdeDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_date: Option<SdeDate>,
    /// An integer whose meaning the brand defines (LivePerson gives none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_status: Option<i64>,
}

redacted_debug!(CustomerInfo {
    cstatus,
    ctype,
    customer_id,
    balance,
    currency,
    social_id,
    imei,
    user_name,
    company_size,
    company_branch,
    account_name,
    role,
    last_payment_date,
    registration_date,
    login_status
});

/// A finite number (JSON has no NaN or infinity).
#[derive(Clone, Copy, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Balance(f64);

impl Balance {
    pub fn parse(text: &str) -> Option<Self> {
        text.trim().parse::<f64>().ok().and_then(Self::new)
    }

    pub fn new(value: f64) -> Option<Self> {
        value.is_finite().then_some(Self(value))
    }
}

/// `ctmrinfo.currency`: an ISO 4217 alphabetic code, three capital letters as LivePerson's
/// example (`USD`) writes it. Not case-folded: `usd` is not a currency code.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase())).then(|| Self(text.to_string()))
    }
}

/// `personal.language`: an ISO 639-1 language code and an ISO 3166-1 alpha-2 country code, as
/// LivePerson documents it (`en-US`, `fr-CA`; it accepts `_` as the separator too). OpenID's
/// `locale` is a BCP 47 tag, whose case carries no meaning, so `nb-no` and `nb_NO` are sent as
/// `nb-NO`; a bare language (`en`) or a longer tag (`zh-Hant-TW`) is not a LivePerson language.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Language(String);

impl Language {
    pub fn parse(text: &str) -> Option<Self> {
        let (language, country) = text.split_once(['-', '_'])?;
        let letters = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic());
        (letters(language) && letters(country)).then(|| {
            Self(format!(
                "{}-{}",
                language.to_ascii_lowercase(),
                country.to_ascii_uppercase()
            ))
        })
    }
}

/// `personal.age`: the age in years with the birth date it comes from.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Age {
    age: u16,
    year: u16,
    month: u8,
    day: u8,
}

impl Age {
    /// From a birth date and today's date (`(year, month, day)`).
    pub fn from_birthdate(birth: SdeDate, today: (u16, u8, u8)) -> Option<Self> {
        let (year, month, day) = today;
        let had_birthday = (month, day) >= (birth.month, birth.day);
        let age = year.checked_sub(birth.year)?.checked_sub(u16::from(!had_birthday))?;
        Some(Self {
            age,
            year: birth.year,
            month: birth.month,
            day: birth.day,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    /// OpenID's `gender` is free text with `female` and `male` defined; anything else is not sent.
    pub fn from_claim(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "male" => Some(Gender::Male),
            "female" => Some(Gender::Female),
            _ => None,
        }
    }
}

#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct Contact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

redacted_debug!(Contact { email, phone });

/// `personal.personal`.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct Personal {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<Age>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
}

redacted_debug!(Personal {
    firstname,
    lastname,
    age,
    contacts,
    gender,
    company,
    language
});

/// One engagement attribute of the authenticated flow: only these two types exist.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Sde {
    #[serde(rename = "ctmrinfo")]
    CustomerInfo { info: CustomerInfo },
    #[serde(rename = "personal")]
    Personal { personal: Personal },
}

/// The id_token's claims.
#[derive(Clone, PartialEq, Serialize)]
pub struct LivePersonClaims {
    pub iss: String,
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    lp_sdes: Vec<Sde>,
}

redacted_debug!(LivePersonClaims {
    iss, sub, given_name, family_name, email, phone_number, gender, preferred_username, lp_sdes; iat, exp
});

impl LivePersonClaims {
    pub fn new(iss: &str, sub: String, iat: u64, exp: u64) -> Self {
        Self {
            iss: iss.to_string(),
            sub,
            iat,
            exp,
            given_name: None,
            family_name: None,
            email: None,
            phone_number: None,
            gender: None,
            preferred_username: None,
            lp_sdes: Vec::new(),
        }
    }

    /// Adds customer info unless it is empty (LivePerson needs no empty objects).
    pub fn add_customer_info(&mut self, info: CustomerInfo) {
        if info != CustomerInfo::default() {
            self.lp_sdes.push(Sde::CustomerInfo { info });
        }
    }

    pub fn add_personal(&mut self, personal: Personal) {
        if personal != Personal::default() {
            self.lp_sdes.push(Sde::Personal { personal });
        }
    }

    pub fn sdes(&self) -> &[Sde] {
        &self.lp_sdes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lp_sdes_is_an_array_of_the_two_accepted_types() {
        let mut claims = LivePersonClaims::new("https://www.example.com", "c-1".into(), 10, 20);
        claims.add_customer_info(CustomerInfo {
            customer_id: Some("c-1".into()),
            balance: Balance::parse("-400.99"),
            currency: Currency::parse("USD"),
            company_size: Some(500),
            company_branch: Some("East village".into()),
            login_status: Some(1),
            registration_date: SdeDate::parse_iso("2013-05-23"),
            ..Default::default()
        });
        claims.add_personal(Personal {
            firstname: Some("Alice".into()),
            contacts: vec![Contact {
                email: Some("a@example.com".into()),
                phone: None,
            }],
            gender: Gender::from_claim("female"),
            age: Age::from_birthdate(SdeDate::parse_iso("1985-04-12").unwrap(), (2026, 4, 11)),
            language: Language::parse("en-US"),
            ..Default::default()
        });
        let value = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            value["lp_sdes"],
            json!([
                {"type": "ctmrinfo", "info": {"customerId": "c-1", "balance": -400.99, "currency": "USD", "companySize": 500,
                    "companyBranch": "East village", "registrationDate": {"day": 23, "month": 5, "year": 2013}, "loginStatus": 1}},
                {"type": "personal", "personal": {"firstname": "Alice", "age": {"age": 40, "year": 1985, "month": 4, "day": 12},
                    "contacts": [{"email": "a@example.com"}], "gender": "FEMALE", "language": "en-US"}}
            ])
        );
        assert_eq!(value["iat"], 10);
    }

    /// A sample verified visitor through a profile: standard claims, both `lp_sdes`, the key.
    #[test]
    fn builds_claims_from_a_verified_visitor() {
        let profile: LivePersonProfileConfig = serde_json::from_value(json!({
            "issuer": "https://www.example.com", "token_lifetime_seconds": 600,
            "claims": {"given_name": {"claim": "given_name"}, "email": {"claim": "email"}},
            "customer_info": {"customerId": {"claim": "sub"}}, "personal": {"lastname": {"claim": "family_name"}}}))
        .unwrap();
        let visitor = VerifiedClaims::from_json(json!({"sub": "c-9", "given_name": "Alice", "family_name": "Smith",
                                                       "email": "alice@example.com"}))
        .unwrap();
        let claims = liveperson_claims(&profile, &visitor, 1_000).unwrap();
        assert_eq!(
            claims.payload().unwrap().get(),
            r#"{"iss":"https://www.example.com","sub":"c-9","iat":1000,"exp":1600,"given_name":"Alice","email":"alice@example.com","lp_sdes":[{"type":"ctmrinfo","info":{"customerId":"c-9"}},{"type":"personal","personal":{"lastname":"Smith"}}]}"#
        );
        assert_eq!(profile.key(), KeyKind::Rotating(SigningAlgorithm::RS256));
        assert_eq!(TokenEndpoint::shape(&profile), ResponseShape::Token);
        let provided = ProviderClient::claims(&profile, &visitor, 1_000).unwrap();
        assert_eq!(
            provided.keys().map(String::as_str).collect::<Vec<_>>(),
            ["email", "given_name", "lp_sdes", "sub"]
        );
        assert_eq!(profile.claim_names(), ["given_name", "email", "lp_sdes"]);
        let code_flow_only = LivePersonProfileConfig {
            implicit_flow: false,
            ..profile
        };
        assert!(code_flow_only.token_endpoint().is_none() && code_flow_only.provider_client().is_some());
    }

    #[test]
    fn debug_names_fields_but_prints_no_value() {
        let mut claims = LivePersonClaims::new("https://www.example.com", "customer-4711".into(), 10, 20);
        claims.email = Some("alice@example.com".into());
        claims.add_customer_info(CustomerInfo {
            balance: Balance::parse("1234.5"),
            social_id: Some("soc-99".into()),
            ..Default::default()
        });
        claims.add_personal(Personal {
            firstname: Some("Alice".into()),
            age: Age::from_birthdate(SdeDate::parse_iso("1985-04-12").unwrap(), (2026, 4, 11)),
            contacts: vec![Contact {
                email: None,
                phone: Some("+4712345678".into()),
            }],
            ..Default::default()
        });
        let printed = format!("{claims:?} {:?}", claims.sdes());
        for value in [
            "customer-4711",
            "alice@example.com",
            "1234.5",
            "soc-99",
            "Alice",
            "1985",
            "+4712345678",
        ] {
            assert!(!printed.contains(value), "{value} in {printed}");
        }
        for name in ["email", "lp_sdes", "social_id", "firstname", "contacts", "iat: 10"] {
            assert!(printed.contains(name), "{name} missing from {printed}");
        }
    }

    #[test]
    fn empty_sdes_are_left_out() {
        let mut claims = LivePersonClaims::new("i", "s".into(), 1, 2);
        claims.add_customer_info(CustomerInfo::default());
        claims.add_personal(Personal::default());
        assert!(serde_json::to_value(&claims).unwrap().get("lp_sdes").is_none());
    }

    #[test]
    fn values_are_checked() {
        assert!(SdeDate::parse_iso("2013-13-01").is_none());
        assert!(SdeDate::parse_iso("2013-5-1").is_none());
        assert!(SdeDate::parse_iso("0000-05-01").is_none());
        assert!(Balance::parse("NaN").is_none());
        assert!(Balance::parse("inf").is_none());
        assert!(Balance::parse("12x").is_none());
        assert!(Balance::new(f64::NAN).is_none());
        assert_eq!(Currency::parse("USD"), Some(Currency("USD".into())));
        for wrong in ["usd", "Usd", "US", "USDX", "U$D", "", " USD", "ÜSD"] {
            assert_eq!(Currency::parse(wrong), None, "{wrong}");
        }
        assert_eq!(Language::parse("en-US"), Some(Language("en-US".into())));
        assert_eq!(Language::parse("fr_CA"), Some(Language("fr-CA".into())));
        assert_eq!(Language::parse("NB-no"), Some(Language("nb-NO".into())));
        for wrong in [
            "en",
            "zh-Hant-TW",
            "eng-USA",
            "e1-US",
            "en-",
            "-US",
            "en US",
            "en-US-x",
            "",
        ] {
            assert_eq!(Language::parse(wrong), None, "{wrong}");
        }
        assert_eq!(Gender::from_claim("diverse"), None);
        let birth = SdeDate::parse_iso("2000-06-15").unwrap();
        assert_eq!(Age::from_birthdate(birth, (2026, 6, 15)).unwrap().age, 26);
        assert_eq!(Age::from_birthdate(birth, (2026, 6, 14)).unwrap().age, 25);
        assert!(Age::from_birthdate(birth, (1999, 1, 1)).is_none());
    }
}
