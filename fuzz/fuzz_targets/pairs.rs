#![no_main]
//! Fuzz target `pairs`: see `recur_fuzz::pairs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    recur_fuzz::check(recur_fuzz::pairs(data));
});
