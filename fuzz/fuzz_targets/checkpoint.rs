#![no_main]
//! Fuzz target `checkpoint`: see `recur_fuzz::checkpoint`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    recur_fuzz::check(recur_fuzz::checkpoint(data));
});
