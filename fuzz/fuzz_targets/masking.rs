//! Any string as a national id: masking keeps the length, is idempotent, and always hides the
//! last five digits (or everything, for short values).
#![no_main]

use libfuzzer_sys::fuzz_target;
use whoscalling::mapping::mask_national_id;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let masked = mask_national_id(value);
    assert_eq!(masked.chars().count(), value.chars().count());
    assert_eq!(mask_national_id(&masked), masked, "idempotent");
    let digit_like: Vec<char> = masked.chars().filter(|c| c.is_numeric() || *c == '*').collect();
    if digit_like.len() <= 5 {
        assert!(masked.chars().all(|c| c == '*'), "short values are masked whole");
    } else {
        assert!(digit_like[digit_like.len() - 5..].iter().all(|c| *c == '*'), "the last five digits are hidden");
    }
});
