#![no_main]
//! Fuzz target `csv`: see `recur_fuzz::csv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = recur_fuzz::csv(data);
});
