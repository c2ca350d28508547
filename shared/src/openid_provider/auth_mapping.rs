//! Puzzel's `authMapping` for a configuration: which claim of our userinfo is the chat id, the
//! nickname, and which are shown to the agent as labelled variables.
//!
//! The roles are set once, on login claims (`claim_policy.roles`); Puzzel reads the claims our
//! userinfo returns to its client, named by that client's `openid-connect` profile. This joins
//! the two, so what the operator pastes into Puzzel names the claims Puzzel actually receives.
//! The local run serves it (`GET /dev/puzzel-auth-mapping`); nothing at run time depends on it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{ClientId, ServiceConfig};
use crate::mapping::AuthMappingEntry;

/// The `authMapping` for one client, and the roles whose claim that client never receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthMapping {
    pub client_id: String,
    #[serde(rename = "authMapping")]
    pub auth_mapping: BTreeMap<String, AuthMappingEntry>,
    /// Login claims with a role that this client's profile does not pass on.
    pub unmapped_roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthMappingError {
    #[error("the configuration has no OpenID provider (`provider`)")]
    NoProvider,
    #[error("no client of the OpenID provider has this id; clients with an openid-connect profile: {0}")]
    UnknownClient(String),
    #[error("name the client (`client_id`); clients with an openid-connect profile: {0}")]
    ChooseClient(String),
    #[error("this client's profile is not an openid-connect profile, so it has no authMapping")]
    NotOpenIdConnect,
}

/// The `authMapping` for `client_id`, or for the only client with an `openid-connect` profile.
pub fn auth_mapping(config: &ServiceConfig, client_id: Option<&str>) -> Result<AuthMapping, AuthMappingError> {
    let provider = config.provider.as_ref().ok_or(AuthMappingError::NoProvider)?;
    let openid_clients: Vec<&ClientId> = provider
        .clients
        .iter()
        .filter(|(_, client)| carried(config, &client.profile).is_some())
        .map(|(id, _)| id)
        .collect();
    let listed = || {
        openid_clients
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (id, client) = match client_id {
        Some(wanted) => provider
            .clients
            .iter()
            .find(|(id, _)| id.as_str() == wanted)
            .ok_or_else(|| AuthMappingError::UnknownClient(listed()))?,
        None => match openid_clients.as_slice() {
            [only] => provider
                .clients
                .get_key_value(*only)
                .ok_or_else(|| AuthMappingError::ChooseClient(listed()))?,
            _ => return Err(AuthMappingError::ChooseClient(listed())),
        },
    };
    let carried = carried(config, &client.profile).ok_or(AuthMappingError::NotOpenIdConnect)?;
    let (auth_mapping, unmapped_roles) = config.claim_policy.auth_mapping(&carried);
    Ok(AuthMapping {
        client_id: id.as_str().to_string(),
        auth_mapping,
        unmapped_roles,
    })
}

/// `(output claim, login claim)` pairs of the profile `name`, when its platform has an authMapping.
fn carried<'c>(config: &'c ServiceConfig, name: &crate::config::ProfileName) -> Option<Vec<(&'c str, &'c str)>> {
    config
        .profiles
        .get(name)?
        .platform()
        .provider_client()?
        .carried_claims()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(roles: serde_json::Value) -> ServiceConfig {
        let document = json!({
            "allowed_origins": ["https://www.example.com"],
            "identity": {"sources": ["api_gateway_authorizer"]},
            "claim_policy": {"roles": roles},
            "signing_keys": {"secret": "keys"},
            "profiles": {
                "openid-claims": {"platform": "openid-connect", "subject": {"claim": "customer_number"},
                    "claims": {"name": {"claim": "name"}, "nin": {"claim": "nin"}, "national_id": {"claim": "nin"}}},
                "liveperson": {"platform": "liveperson", "issuer": "https://id.example.com", "token_lifetime_seconds": 600}
            },
            "provider": {"issuer": "https://id.example.com", "clients": {
                "puzzel": {"secret": "p", "redirect_uris": ["https://chat.example.com/cb"], "scopes": ["openid"], "profile": "openid-claims"},
                "liveperson": {"secret": "l", "redirect_uris": ["https://liveperson.net"], "scopes": ["openid"], "profile": "liveperson"}
            }}
        });
        ServiceConfig::from_json("test", &document.to_string()).unwrap()
    }

    #[test]
    fn the_roles_become_the_claims_puzzel_receives() {
        let config = config(json!({
            "customer_number": {"map_type": "ChatId", "description": "Customer number"},
            "name": {"map_type": "NickName"},
            "nin": {"map_type": "Variable", "description": "National id (last 5 digits hidden)"},
            "email": {"map_type": "Variable", "description": "Email"}
        }));
        let mapping = auth_mapping(&config, None).unwrap();
        assert_eq!(
            serde_json::to_value(&mapping).unwrap(),
            json!({
                "client_id": "puzzel",
                "authMapping": {
                    "sub": {"MapType": "ChatId", "Description": "Customer number"},
                    "name": {"MapType": "NickName"},
                    "nin": {"MapType": "Variable", "Description": "National id (last 5 digits hidden)"},
                    "national_id": {"MapType": "Variable", "Description": "National id (last 5 digits hidden)"}
                },
                "unmapped_roles": ["email"]
            })
        );
        assert_eq!(auth_mapping(&config, Some("puzzel")).unwrap(), mapping);
    }

    #[test]
    fn clients_without_an_authmapping_are_named_as_such() {
        let config = config(json!({}));
        assert_eq!(
            auth_mapping(&config, Some("liveperson")),
            Err(AuthMappingError::NotOpenIdConnect)
        );
        assert_eq!(
            auth_mapping(&config, Some("nobody")),
            Err(AuthMappingError::UnknownClient("puzzel".into()))
        );
        assert!(
            auth_mapping(&config, None).unwrap().auth_mapping.is_empty(),
            "no roles, an empty mapping"
        );
    }
}
