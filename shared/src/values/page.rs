//! What the page sent in a token request's body: one JSON object, untrusted, that a platform may
//! read a page-side value from (Freshchat's widget UUID) and that never carries identity.
//!
//! The body is parsed once, at the HTTP edge, into a [`PageInput`]: an empty body is an empty
//! object, anything else must be a JSON object that names each member once (a member named twice
//! is refused: two readers of one body must never see different values). Platforms that take no
//! page value ignore it; a platform that takes one says exactly which members it accepts
//! ([`PageInput::only`]) and checks each value's type and shape itself. Neither the values nor
//! the member names are printed (`Debug` counts the members) or put into an error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The request body's JSON object (empty when there was no body).
#[derive(Clone, Default)]
pub struct PageInput(Map<String, Value>);

/// Why the page's body is not what the platform takes: each is the caller's mistake (a 400).
/// The messages name only our own member names, never a value or a name the page sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageInputError {
    #[error("the request body must be a JSON object")]
    NotAnObject,
    #[error("the request body names a member more than once")]
    DuplicateMember,
    /// A member the platform does not take, for example one that tries to set identity.
    #[error("the request body may hold only {}", quoted(allowed))]
    UnexpectedMember { allowed: &'static [&'static str] },
    #[error("the request body lacks `{member}`")]
    Missing { member: &'static str },
    #[error("`{member}` in the request body must be {expected}")]
    Invalid {
        member: &'static str,
        expected: &'static str,
    },
}

fn quoted(names: &[&str]) -> String {
    match names {
        [] => "no member".to_string(),
        names => names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
    }
}

impl PageInput {
    /// No body (a GET, or a POST without one).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The body's JSON text: an object naming each member once.
    pub fn from_json(body: &[u8]) -> Result<Self, PageInputError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(_)) => {}
            _ => return Err(PageInputError::NotAnObject),
        }
        // Valid JSON and an object: the only way left to fail is a member named twice.
        serde_json::from_slice::<UniqueMembers>(body)
            .map(|members| Self(members.0))
            .map_err(|_| PageInputError::DuplicateMember)
    }

    /// The member's value, if the page sent it.
    pub fn get(&self, member: &str) -> Option<&Value> {
        self.0.get(member)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Refuses a body holding any member outside `allowed`.
    pub fn only(&self, allowed: &'static [&'static str]) -> Result<(), PageInputError> {
        match self.0.keys().all(|name| allowed.contains(&name.as_str())) {
            true => Ok(()),
            false => Err(PageInputError::UnexpectedMember { allowed }),
        }
    }
}

impl fmt::Debug for PageInput {
    /// The member count only: names and values are the page's, untrusted and maybe personal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageInput").field("members", &self.0.len()).finish()
    }
}

/// A JSON object whose members are named once each (serde_json keeps the last of duplicates).
struct UniqueMembers(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueMembers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = UniqueMembers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object naming each member once")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueMembers, A::Error> {
                let mut members = Map::new();
                while let Some(name) = access.next_key::<String>()? {
                    if members.contains_key(&name) {
                        return Err(de::Error::custom("a member is named twice"));
                    }
                    let value = access.next_value::<Value>()?;
                    members.insert(name, value);
                }
                Ok(UniqueMembers(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_naming_each_member_once_is_page_input() {
        let page = PageInput::from_json(br#"{"freshchat_uuid": "x", "n": {"a": 1, "a": 2}}"#).unwrap();
        assert_eq!(page.get("freshchat_uuid"), Some(&Value::from("x")));
        assert!(page.get("other").is_none());
        assert!(PageInput::from_json(b" {} ").unwrap().is_empty());
        assert!(PageInput::empty().is_empty());
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        for body in [
            &b"[]"[..],
            b"\"x\"",
            b"1",
            b"null",
            b"{",
            b"{}{}",
            b"{\"a\": 1,}",
            b"{\"a\": \"\xff\"}",
            b"{\"a\": \"\\ud800\"}",
            b"{\"a\": \"\x01\"}",
        ] {
            assert_eq!(
                PageInput::from_json(body).unwrap_err(),
                PageInputError::NotAnObject,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_member_named_twice_is_refused_whatever_the_values() {
        for body in [
            &br#"{"freshchat_uuid": "a", "freshchat_uuid": "a"}"#[..],
            br#"{"freshchat_uuid": "a", "x": 1, "freshchat_uuid": "b"}"#,
            br#"{"a": 1, "\u0061": 2}"#,
        ] {
            assert_eq!(
                PageInput::from_json(body).unwrap_err(),
                PageInputError::DuplicateMember,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn only_refuses_a_member_outside_the_list() {
        const ALLOWED: &[&str] = &["freshchat_uuid"];
        let page = PageInput::from_json(br#"{"freshchat_uuid": "a", "reference_id": "mallory"}"#).unwrap();
        let refused = page.only(ALLOWED).unwrap_err();
        assert_eq!(refused, PageInputError::UnexpectedMember { allowed: ALLOWED });
        assert_eq!(refused.to_string(), "the request body may hold only `freshchat_uuid`");
        assert!(
            !refused.to_string().contains("reference_id"),
            "the page's names are not echoed"
        );
        // Controls: the allowed member alone, and nothing at all.
        assert_eq!(
            PageInput::from_json(br#"{"freshchat_uuid": "a"}"#)
                .unwrap()
                .only(ALLOWED),
            Ok(())
        );
        assert_eq!(PageInput::empty().only(ALLOWED), Ok(()));
    }

    #[test]
    fn debug_prints_neither_names_nor_values() {
        let page = PageInput::from_json(br#"{"mallory@example.net": "0f2c6a8e-secret"}"#).unwrap();
        let printed = format!("{page:?}");
        assert_eq!(printed, "PageInput { members: 1 }");
    }
}
