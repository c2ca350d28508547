//! LivePerson "Authenticated Customer Information", implicit flow: the id_token the brand signs
//! (RS256) and the page hands to `lpGetAuthenticationToken`'s callback.
//!
//! `iat`/`exp` are seconds (one LivePerson example shows milliseconds; it is wrong). Custom data
//! goes in `lp_sdes`, an **array** of engagement attributes, and only two types are accepted in
//! the authenticated flow: `ctmrinfo` (customer info) and `personal`. The types below can only
//! build those two shapes, with LivePerson's field names and value types.

use serde::Serialize;

/// `{"day", "month", "year"}` as LivePerson dates take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        ((1..=9999).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day))
            .then_some(Self { day, month, year })
    }
}

/// `ctmrinfo.info`. Every field optional; an all-empty one is not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

/// A finite number (JSON has no NaN or infinity).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Language(String);

impl Language {
    pub fn parse(text: &str) -> Option<Self> {
        let (language, country) = text.split_once(['-', '_'])?;
        let letters = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic());
        (letters(language) && letters(country))
            .then(|| Self(format!("{}-{}", language.to_ascii_lowercase(), country.to_ascii_uppercase())))
    }
}

/// `personal.age`: the age in years with the birth date it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        Some(Self { age, year: birth.year, month: birth.month, day: birth.day })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Contact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// `personal.personal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
            contacts: vec![Contact { email: Some("a@example.com".into()), phone: None }],
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
        for wrong in ["en", "zh-Hant-TW", "eng-USA", "e1-US", "en-", "-US", "en US", "en-US-x", ""] {
            assert_eq!(Language::parse(wrong), None, "{wrong}");
        }
        assert_eq!(Gender::from_claim("diverse"), None);
        let birth = SdeDate::parse_iso("2000-06-15").unwrap();
        assert_eq!(Age::from_birthdate(birth, (2026, 6, 15)).unwrap().age, 26);
        assert_eq!(Age::from_birthdate(birth, (2026, 6, 14)).unwrap().age, 25);
        assert!(Age::from_birthdate(birth, (1999, 1, 1)).is_none());
    }
}
