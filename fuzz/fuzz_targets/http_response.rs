//! Fuzzes the HTTP client's response framing: any bytes a server could
//! send, as a sequence of responses, must be taken apart by the rules or
//! refused, never with a panic or a read past what was given.
//!
//! `cargo +nightly fuzz run http_response -- -max_total_time=600`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yieldfrom::http::client::check_response_framing(data);
});
