//! Any string as a national id: masking is all or nothing. A value masking accepts is a
//! plausible national id (ASCII, 6 to 14 digits) and comes back the same length, idempotent,
//! with exactly its last five digits hidden, so at most nine are revealed; anything else is
//! refused (`None`) and never travels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whoscalling::mapping::{MASKED_DIGITS, NATIONAL_ID_DIGITS, mask_national_id, plausible_national_id};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let Some(masked) = mask_national_id(value) else {
        assert!(!plausible_national_id(value));
        return;
    };
    assert!(value.is_ascii() && masked.is_ascii(), "only ASCII ids are masked");
    assert_eq!(masked.chars().count(), value.chars().count());
    assert_eq!(mask_national_id(&masked).as_ref(), Some(&masked), "idempotent");
    let digits = value.chars().filter(|c| c.is_ascii_digit() || *c == '*').count();
    assert!(NATIONAL_ID_DIGITS.contains(&digits), "{digits} digits");
    let revealed = masked.chars().filter(char::is_ascii_digit).count();
    assert!(revealed <= digits - MASKED_DIGITS, "reveals {revealed} of {digits}");
    let digit_like: Vec<char> = masked.chars().filter(|c| c.is_ascii_digit() || *c == '*').collect();
    assert!(
        digit_like[digit_like.len() - MASKED_DIGITS..].iter().all(|c| *c == '*'),
        "the last five digits are hidden"
    );
});
