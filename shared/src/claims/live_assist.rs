//! Live Assist for Microsoft Dynamics 365 (CafeX) authenticated chat: an RS256 JWT whose `sub` is
//! the CRM contact GUID, so the agent's screen can pop the contact record. `iat` and `exp` are
//! numbers of seconds; `iss` is the website's domain name.

use serde::Serialize;

/// A Dynamics CRM record id: a GUID (`8-4-4-4-12` hexadecimal digits), braces and case as CRM
/// accepts them are normalized to lowercase without braces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CrmContactId(String);

impl CrmContactId {
    pub fn parse(value: &str) -> Option<Self> {
        let trimmed = value.trim().trim_start_matches('{').trim_end_matches('}');
        let groups: Vec<&str> = trimmed.split('-').collect();
        let lengths_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
        let hex_ok = groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
        (lengths_ok && hex_ok).then(|| Self(trimmed.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveAssistClaims {
    pub sub: CrmContactId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crm_contact_ids_are_guids() {
        let id = CrmContactId::parse("{3F2504E0-4F89-41D3-9A0C-0305E82C3301}").unwrap();
        assert_eq!(id.as_str(), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        for bad in ["", "alice", "3f2504e0-4f89-41d3-9a0c-0305e82c330", "3f2504e0-4f89-41d3-9a0c-0305e82c33zz", "3f2504e04f8941d39a0c0305e82c3301"] {
            assert!(CrmContactId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn times_are_numbers_of_seconds() {
        let claims = LiveAssistClaims {
            sub: CrmContactId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap(),
            given_name: Some("Alice".into()),
            family_name: None,
            iss: "www.example.com".into(),
            iat: 1_800_000_000,
            exp: 1_800_007_200,
        };
        let value = serde_json::to_value(&claims).unwrap();
        assert!(value["iat"].is_u64() && value["exp"].is_u64());
        assert!(value.get("family_name").is_none());
    }
}
