//! `%XX` decoding, as URLs write bytes that are not allowed where they
//! stand (RFC 3986 §2.1): what the PostgreSQL connection URL and the HTTP
//! client's URLs share.

/// `s` with every `%XX` (two hex digits) replaced by that byte; `None` for
/// a malformed escape or a result that is not UTF-8.
///
/// (`u8::from_str_radix` would take `%+1` as byte 1: a sign is not a hex
/// digit here, so each digit is checked.)
pub(crate) fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let digit = |at: usize| (*bytes.get(at)? as char).to_digit(16);
            let (hi, lo) = (digit(i + 1)?, digit(i + 2)?);
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn escapes_decode_and_bad_ones_are_refused() {
        assert_eq!(decode("a%40b%3a%C3%A9").as_deref(), Some("a@b:é"));
        assert_eq!(decode("plain").as_deref(), Some("plain"));
        for bad in ["%", "%4", "%4g", "%+1", "%-1", "% 1", "%FF"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
