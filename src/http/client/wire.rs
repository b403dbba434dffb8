//! The client's side of HTTP/1.1 framing (RFC 9112): the request head it
//! writes, and the rules a response must pass before a byte of its body is
//! trusted. A server that breaks one gets an error, never a guess: the
//! connection then closes, so nothing it sent after can be read as the
//! next response (response smuggling, the client's side of request
//! smuggling).
//!
//! | response | outcome | rule |
//! |---|---|---|
//! | to `HEAD`, or 1xx / 204 / 304 | no body, whatever the headers say | RFC 9112 §6.3 ¶1 |
//! | `Transfer-Encoding` and `Content-Length` together | error | §6.3 ¶3 (a client must not guess) |
//! | `Transfer-Encoding` other than `chunked` | error | §6.1 (no other coding is spoken) |
//! | `Content-Length` not `1*DIGIT`, or several that differ | error | §6.3 ¶5 |
//! | neither | the body runs to the end of the connection | §6.3 ¶8 |
//! | 100 / 103 before the answer | skipped | RFC 9110 §15.2 |
//! | 101 | error (no upgrade was asked) | RFC 9110 §15.2.2 |
//! | a head past the size limit, or more fields | error | — |
//! | a body that ends before its length | error, not a short success | §8 |

use super::super::framing::{Limits, Reject};

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// To the end of the connection.
    UntilClose,
}

/// A response head that passed the rules.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// The status code.
    pub(crate) status: u16,
    /// The reason phrase.
    pub(crate) reason: String,
    /// The header fields, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// How the body's end is marked.
    pub(crate) framing: BodyFraming,
    /// The connection cannot carry another request after this one.
    pub(crate) close: bool,
    /// Bytes of the head, blank line included.
    pub(crate) len: usize,
}

/// Why a response was refused.
pub(crate) type WireError = &'static str;

/// Parses a response head at the front of `buf`: `Ok(None)` while it is
/// incomplete (and within the limit), the head once whole, an error for a
/// rule broken. `head_request`: the request was `HEAD`.
pub(crate) fn parse_response_head(
    buf: &[u8],
    limits: &Limits,
    head_request: bool,
) -> Result<Option<ResponseHead>, WireError> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head {
                return Err("the response head is larger than the limit");
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err("the response has more header fields than the limit");
        }
        Err(_) => return Err("a malformed response head"),
    };
    if len > limits.max_head {
        return Err("the response head is larger than the limit");
    }
    let status = response.code.unwrap_or(0);
    let minor = response.version.unwrap_or(1);
    let mut headers = Vec::with_capacity(response.headers.len());
    let (mut lengths, mut codings) = (Vec::new(), None::<String>);
    let mut close = minor == 0;
    for field in response.headers.iter() {
        let value = std::str::from_utf8(field.value)
            .map_err(|_| "a response header value that is not UTF-8")?
            .trim()
            .to_string();
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            lengths.push(value.clone());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let joined = match codings.take() {
                Some(before) => format!("{before}, {value}"),
                None => value.clone(),
            };
            codings = Some(joined);
        } else if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                if option.eq_ignore_ascii_case("close") {
                    close = true;
                } else if option.eq_ignore_ascii_case("keep-alive") && minor == 0 {
                    close = false;
                }
            }
        }
        headers.push((name.to_string(), value));
    }
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body {
        BodyFraming::Empty
    } else if let Some(codings) = codings {
        if !lengths.is_empty() {
            return Err("the response has both Transfer-Encoding and Content-Length");
        }
        if !codings.trim().eq_ignore_ascii_case("chunked") {
            return Err("a Transfer-Encoding other than chunked");
        }
        BodyFraming::Chunked
    } else if let Some(first) = lengths.first() {
        // Several equal values (a list, or repeated fields) are one length.
        let mut values = lengths.iter().flat_map(|v| v.split(',')).map(str::trim);
        if values
            .clone()
            .any(|v| v != first.split(',').next().unwrap_or("").trim())
        {
            return Err("the response has Content-Length values that differ");
        }
        let v = values.next().unwrap_or("");
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a Content-Length that is not a number");
        }
        BodyFraming::Length(v.parse().map_err(|_| "a Content-Length too large")?)
    } else {
        close = true;
        BodyFraming::UntilClose
    };
    Ok(Some(ResponseHead {
        status,
        reason: response.reason.unwrap_or("").to_string(),
        headers,
        framing,
        close,
        len,
    }))
}

/// Whether `name` is a header name (an RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` may be sent as a header value: no CR, LF or NUL (which
/// would let it end the field, or the head, and start another).
pub(crate) fn is_header_value(value: &str) -> bool {
    !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// Writes a request head: the request line, `Host`, the fields, and the
/// body's framing (`Content-Length: n`, or chunked when `length` is
/// `None` and there is a body).
pub(crate) fn write_request_head(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(String, String)],
    length: Option<u64>,
    has_body: bool,
) {
    use std::io::Write;
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match (length, has_body) {
        (Some(n), _) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        (None, true) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        (None, false) => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// A chunked decoder's refusal, as the client words it.
pub(crate) fn chunk_error(r: Reject) -> WireError {
    r.why
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head: 1024,
        max_headers: 8,
        max_target: 0,
        max_body: 1 << 20,
    };

    fn head(wire: &str) -> Result<Option<ResponseHead>, WireError> {
        parse_response_head(wire.as_bytes(), &LIMITS, false)
    }

    #[test]
    fn responses_are_framed_by_the_rules_and_refused_when_in_doubt() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.framing, h.close, h.len),
            (200, BodyFraming::Length(5), false, 38)
        );
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, BodyFraming::Chunked);
        let h = head("HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.framing, h.close), (BodyFraming::UntilClose, true));
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.close, "1.0 without keep-alive closes");
        let h = head("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, BodyFraming::Empty);
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, BodyFraming::Length(3));
        let to_head = parse_response_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            &LIMITS,
            true,
        );
        assert_eq!(to_head.unwrap().unwrap().framing, BodyFraming::Empty);
        assert!(head("HTTP/1.1 200 OK\r\nContent-Len").unwrap().is_none());
        for (bad, says) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                "both",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                "other than chunked",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                "differ",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n",
                "not a number",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                "too large",
            ),
            ("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed"),
            ("HTTP/1.1 2000 OK\r\n\r\n", "malformed"),
        ] {
            let e = head(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let many: String = (0..9).map(|i| format!("X-{i}: y\r\n")).collect();
        let e = head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")).unwrap_err();
        assert!(e.contains("more header fields"), "{e}");
        let e = head(&format!("HTTP/1.1 200 OK\r\nX: {}", "y".repeat(2000))).unwrap_err();
        assert!(e.contains("larger than the limit"), "{e}");
    }

    #[test]
    fn request_heads_carry_their_framing() {
        let mut out = Vec::new();
        let headers = vec![("Accept".to_string(), "*/*".to_string())];
        write_request_head(&mut out, "POST", "/x?y", "h:8080", &headers, Some(3), true);
        assert_eq!(
            out,
            b"POST /x?y HTTP/1.1\r\nHost: h:8080\r\nAccept: */*\r\nContent-Length: 3\r\n\r\n"
        );
        out.clear();
        write_request_head(&mut out, "PUT", "/", "h", &[], None, true);
        assert!(out.ends_with(b"Transfer-Encoding: chunked\r\n\r\n"));
        assert!(is_header_name("X-Api-Key") && !is_header_name("X Y") && !is_header_name(""));
        assert!(is_header_value("a b") && !is_header_value("a\r\nX: y"));
    }
}
