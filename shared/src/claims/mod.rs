//! One claim schema per chat platform, as serde structs whose types make a token the platform
//! would reject hard to build.

pub mod connect;
pub mod live_assist;
pub mod liveperson;
pub mod openid;
