//! Compact JWE (RFC 7516): placeholder, being written.
