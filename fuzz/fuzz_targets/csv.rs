#![no_main]
//! Fuzz target `csv`: see `recur_fuzz::csv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    recur_fuzz::check(recur_fuzz::csv(data));
});
