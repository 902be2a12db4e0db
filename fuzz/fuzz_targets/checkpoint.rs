#![no_main]
//! Fuzz target `checkpoint`: see `recur_fuzz::checkpoint`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = recur_fuzz::checkpoint(data);
});
