#![no_main]
//! Fuzz target `text`: see `recur_fuzz::text`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    recur_fuzz::check(recur_fuzz::text(data));
});
