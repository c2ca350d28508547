//! Where a verified identity comes from: named in the configuration, reported by the identity
//! layer with each verified visitor.

use serde::Deserialize;

/// Where a visitor's verified identity may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    /// Claims that API Gateway's JWT authorizer verified (`requestContext.authorizer.jwt.claims`).
    ApiGatewayAuthorizer,
    /// `Authorization: Bearer <JWT>` verified here against the provider's JWKS.
    BearerToken,
    /// The encrypted session cookie set after an upstream login (`/callback/{provider}`).
    Session,
}
