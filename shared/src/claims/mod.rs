//! Moved: each platform's claim schema now lives in its platform module ([`crate::platforms`]).
//! These paths remain until the merge of issue 14 is complete.

pub use crate::platforms::amazon_connect as connect; // moved: crate::platforms::amazon_connect
pub use crate::platforms::live_assist; // moved: crate::platforms::live_assist
pub use crate::platforms::liveperson; // moved: crate::platforms::liveperson
pub use crate::platforms::openid_connect as openid; // moved: crate::platforms::openid_connect
