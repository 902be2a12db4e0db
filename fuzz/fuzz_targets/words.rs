#![no_main]
//! Fuzz target `words`: see `recur_fuzz::words`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    recur_fuzz::check(recur_fuzz::words(data));
});
