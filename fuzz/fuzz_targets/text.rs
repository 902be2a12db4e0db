#![no_main]
//! Fuzz target `text`: see `recur_fuzz::text`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = recur_fuzz::text(data);
});
