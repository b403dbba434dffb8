//! Fuzzes the HTTP request head parser and body framing: any bytes, cut
//! anywhere, must give an answer (a request, "not complete yet", or a
//! refusal with a 4xx/5xx status) and never a panic, and the bytes a
//! request takes never exceed what was given.
//!
//! `cargo +nightly fuzz run http_framing -- -max_total_time=600`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yieldfrom::http::check_framing(data);
});
