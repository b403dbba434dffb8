//! Reading a request off the wire: the head (parsed by `httparse`) and the
//! body's framing, per RFC 9112. Every rule that rejects a request answers
//! with a status and closes the connection, so that the bytes after a
//! request whose length is in doubt are never read as another request
//! (request smuggling).
//!
//! | input | answer | rule |
//! |---|---|---|
//! | `Transfer-Encoding` and `Content-Length` together | 400, close | RFC 9112 §6.3 ¶3 |
//! | `Content-Length` not `1*DIGIT`, or several that differ | 400, close | §6.3 ¶5 |
//! | `Transfer-Encoding` whose last coding is not `chunked` | 400, close | §6.3 ¶4 |
//! | a coding before `chunked` (`gzip, chunked`) | 501, close | §6.1 |
//! | `Transfer-Encoding` in an HTTP/1.0 request | 400, close | §6.1 ¶15 |
//! | malformed chunk size, extension, data terminator or trailer | 400, close | §7.1 |
//! | HTTP/1.1 without exactly one `Host` | 400, close | §3.2 |
//! | a `Host` that is not `host [ ":" port ]` (userinfo, a path, spaces) | 400, close | §3.2, RFC 3986 §3.2 |
//! | an absolute-form target (`http://h/p?q`) | served as its origin form `/p?q` | §3.2.2 |
//! | whitespace before a colon, obs-fold, bare CR, control bytes | 400, close | §5.1, §5.2, §2.2 (`httparse` refuses them) |
//! | a version other than 1.0 or 1.1 | 505, close | §2.3 |
//! | head larger than the limit, or more headers | 431, close | RFC 6585 §5 |
//! | request target longer than the limit | 414, close | RFC 9110 §15.5.15 |
//! | body larger than the limit | 413, close | RFC 9110 §15.5.14 |

use std::borrow::Cow;

/// The limits a request must fit (see [`Config`](super::Config)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The largest head, request line and fields (431 past it).
    pub(crate) max_head: usize,
    /// The most header fields (431 past them).
    pub(crate) max_headers: usize,
    /// The longest target (414 past it).
    pub(crate) max_target: usize,
    /// The largest body (413 past it).
    pub(crate) max_body: usize,
}

/// How the body of a request is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head that passed every rule.
#[derive(Debug)]
pub(crate) struct Head {
    /// The method (a static string for the common ones: no allocation).
    pub(crate) method: Cow<'static, str>,
    /// The target and header fields, as offsets into the head's bytes.
    pub(crate) fields: Fields,
    /// The protocol's minor version (1.0 or 1.1).
    pub(crate) minor: u8,
    /// How the body's end is marked.
    pub(crate) framing: Framing,
    /// The client asked to close after this request (or spoke 1.0 without
    /// `keep-alive`).
    pub(crate) close: bool,
    /// HTTP/1.0 with `Connection: keep-alive` (the response says so too).
    pub(crate) keep_alive_1_0: bool,
    /// `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
    /// Bytes of the head, blank line included.
    pub(crate) len: usize,
}

/// A request refused: the status to answer with; the connection closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reject {
    /// The status to answer with.
    pub(crate) status: u16,
    /// Why, for the response's body and the log.
    pub(crate) why: &'static str,
}

pub(crate) fn reject(status: u16, why: &'static str) -> Reject {
    Reject { status, why }
}

/// A request's target and header fields, in one string: a parsed head
/// costs two allocations however many fields it has.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fields {
    /// The target, then each field's name and value, back to back.
    text: String,
    /// Where the target ends in `text`.
    target_end: u32,
    /// Per field, where its name and its value end (each starts where the
    /// one before it ends).
    ends: Vec<(u32, u32)>,
}

impl Fields {
    /// The target alone, with room for `fields` fields of `bytes` bytes.
    pub(crate) fn with_capacity(target: &str, fields: usize, bytes: usize) -> Fields {
        let mut text = String::with_capacity(target.len() + bytes);
        text.push_str(target);
        Fields {
            text,
            target_end: offset(target.len()),
            ends: Vec::with_capacity(fields),
        }
    }

    pub(crate) fn new(target: &str) -> Fields {
        Fields::with_capacity(target, 0, 0)
    }

    pub(crate) fn push(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        let name_end = offset(self.text.len());
        self.text.push_str(value);
        self.ends.push((name_end, offset(self.text.len())));
    }

    pub(crate) fn target(&self) -> &str {
        &self.text[..self.target_end as usize]
    }

    pub(crate) fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = self.target_end as usize;
        self.ends.iter().map(move |&(name_end, value_end)| {
            let (name_end, value_end) = (name_end as usize, value_end as usize);
            let field = (&self.text[start..name_end], &self.text[name_end..value_end]);
            start = value_end;
            field
        })
    }
}

/// A position in [`Fields::text`]: a head is bounded by the server's limit,
/// and a request built by hand is not 4 GiB of headers.
fn offset(at: usize) -> u32 {
    u32::try_from(at).expect("a request head under 4 GiB")
}

/// Parses the head at the start of `buf`: `Ok(None)` if it is not complete yet.
pub(crate) fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, Reject> {
    // Most requests have a handful of fields: room for 16 on the stack
    // (uninitialised; httparse writes only what it finds), and the full
    // limit on the heap only for a request with more. A large array on the
    // stack would stay resident in every idle connection's stack.
    const FEW: usize = 16;
    let mut few = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; FEW];
    let mut req = httparse::Request::new(&mut []);
    let first = req.parse_with_uninit_headers(buf, &mut few[..FEW.min(limits.max_headers)]);
    if matches!(first, Err(httparse::Error::TooManyHeaders)) && limits.max_headers > FEW {
        let mut storage: Vec<httparse::Header<'_>> = Vec::with_capacity(limits.max_headers);
        let mut req = httparse::Request::new(&mut []);
        let room = &mut storage.spare_capacity_mut()[..limits.max_headers];
        let again = req.parse_with_uninit_headers(buf, room);
        return finish_head(buf, limits, req, again);
    }
    finish_head(buf, limits, req, first)
}

/// The rules, applied to what httparse made of the head.
fn finish_head(
    buf: &[u8],
    limits: &Limits,
    req: httparse::Request<'_, '_>,
    parsed: httparse::Result<usize>,
) -> Result<Option<Head>, Reject> {
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > limits.max_head {
                // Still no end of the head: a request line too long is a
                // long target; anything else, a head too large.
                let line_end = buf.iter().position(|&b| b == b'\n');
                if line_end.is_none_or(|at| at > limits.max_target) {
                    Err(reject(414, "request target too long"))
                } else {
                    Err(reject(431, "request header section too large"))
                }
            } else if !buf.contains(&b'\n') && buf.len() > limits.max_target + 32 {
                Err(reject(414, "request target too long"))
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(reject(431, "too many header fields")),
        Err(httparse::Error::Version) => return Err(reject(505, "HTTP version not supported")),
        Err(_) => return Err(reject(400, "malformed request head")),
    };
    if len > limits.max_head {
        return Err(reject(431, "request header section too large"));
    }
    let target = req.path.unwrap_or_default();
    if target.len() > limits.max_target {
        return Err(reject(414, "request target too long"));
    }
    let origin;
    let target = match absolute_form(target)? {
        Some(o) => {
            origin = o;
            origin.as_str()
        }
        None => target,
    };
    let minor = req.version.unwrap_or(1);
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding: Vec<String> = Vec::new();
    let mut hosts = 0;
    let (mut close, mut keep_alive) = (false, false);
    let mut expect_continue = false;
    let field_bytes = req
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    let mut fields = Fields::with_capacity(target, req.headers.len(), field_bytes);
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            for part in value.split(',') {
                let n = parse_length(part.trim()).ok_or(reject(400, "invalid Content-Length"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(reject(400, "conflicting Content-Length values"));
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding.extend(
                value
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty()),
            );
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if !valid_authority(&value) {
                return Err(reject(400, "invalid Host header"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if value.trim().eq_ignore_ascii_case("100-continue") {
                expect_continue = minor >= 1;
            } else {
                return Err(reject(417, "unsupported expectation"));
            }
        }
        fields.push(name, &value);
    }
    if minor >= 1 && hosts != 1 || hosts > 1 {
        return Err(reject(
            400,
            "an HTTP/1.1 request needs exactly one Host header",
        ));
    }
    let framing = if !transfer_encoding.is_empty() {
        if minor == 0 {
            return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        if content_length.is_some() {
            return Err(reject(400, "both Transfer-Encoding and Content-Length"));
        }
        match transfer_encoding.iter().position(|c| c == "chunked") {
            Some(at) if at == transfer_encoding.len() - 1 && at == 0 => Framing::Chunked,
            Some(at) if at == transfer_encoding.len() - 1 => {
                return Err(reject(501, "transfer coding not implemented"));
            }
            _ => return Err(reject(400, "Transfer-Encoding does not end in chunked")),
        }
    } else {
        match content_length {
            Some(n) if n > limits.max_body as u64 => {
                return Err(reject(413, "request body too large"));
            }
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n as usize),
        }
    };
    let close = close || (minor == 0 && !keep_alive);
    Ok(Some(Head {
        method: method_name(req.method.unwrap_or_default()),
        fields,
        minor,
        framing,
        close,
        keep_alive_1_0: minor == 0 && keep_alive && !close,
        expect_continue,
        len,
    }))
}

/// The origin form (`/path?query`) of an absolute-form target
/// (`http://host:port/path?query`, RFC 9112 §3.2.2: what a request to a
/// proxy looks like, and what a server must accept), or `None` for any
/// other form. Its authority must be valid as a Host is; an empty path is
/// `/`. (The Host header is still checked; the target's authority, which
/// the RFC says takes precedence, is not used: a server answers for its
/// own names whatever the request says.)
fn absolute_form(target: &str) -> Result<Option<String>, Reject> {
    let after_scheme = ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
    });
    let Some(rest) = after_scheme else {
        return Ok(None);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || !valid_authority(authority) {
        return Err(reject(400, "invalid authority in the request target"));
    }
    Ok(Some(if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }))
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2-3): a registered name (letters,
/// digits, `-._~`, `%XX`, sub-delims), an IPv4 address, or an IP literal in
/// brackets, then an optional port of digits. No userinfo (`user@`), no
/// path, no whitespace. Empty is allowed (a target without authority).
fn valid_authority(value: &str) -> bool {
    let (host, port) = if let Some(literal) = value.strip_prefix('[') {
        let Some((inside, after)) = literal.split_once(']') else {
            return false;
        };
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b":.".contains(&b))
        {
            return false;
        }
        match after.strip_prefix(':') {
            Some(port) => ("", Some(port)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    let reg_name = |b: u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b);
    host.bytes().all(reg_name) && port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// The method, borrowed when it is one of RFC 9110's (no allocation).
fn method_name(method: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    match KNOWN.iter().find(|&&m| m == method) {
        Some(&known) => Cow::Borrowed(known),
        None => Cow::Owned(method.to_string()),
    }
}

/// The server's default limits, for the unit tests of the framing files.
#[cfg(test)]
pub(crate) const TEST_LIMITS: Limits = Limits {
    max_head: 16 * 1024,
    max_headers: 100,
    max_target: 8 * 1024,
    max_body: 1024 * 1024,
};

/// `Content-Length = 1*DIGIT`, no sign, no spaces, no overflow.
fn parse_length(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = TEST_LIMITS;

    #[test]
    fn a_parsed_head_keeps_its_target_and_fields_in_order() {
        let wire =
            b"PATCH /users/7?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: \xff2\r\nEmpty:\r\n\r\n";
        let head = parse_head(wire, &LIMITS).unwrap().unwrap();
        assert!(matches!(head.method, Cow::Borrowed("PATCH")));
        assert_eq!(head.len, wire.len());
        let req = super::super::Request::parsed(head.method, head.fields, head.minor, Vec::new());
        assert_eq!(req.target(), "/users/7?x=1");
        let fields: Vec<(&str, &str)> = req.headers().collect();
        assert_eq!(
            fields,
            [
                ("Host", "h"),
                ("X-A", "1"),
                ("x-a", "\u{fffd}2"),
                ("Empty", "")
            ]
        );
        assert_eq!(req.header("x-a"), Some("1"), "the first of two");
        let odd = parse_head(b"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", &LIMITS);
        assert_eq!(odd.unwrap().unwrap().method, "BREW");
    }

    #[test]
    fn hosts_are_authorities_without_userinfo() {
        for good in [
            "",
            "h",
            "example.com",
            "example.com:8080",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8000",
            "xn--bcher-kva.example",
            "a%20b",
        ] {
            assert!(valid_authority(good), "{good:?}");
        }
        for bad in [
            "user@evil.com",
            "a b",
            "h/p",
            "h:80x",
            "[::1",
            "[::1]x",
            "[zz]",
            "h?q",
            "h#f",
        ] {
            assert!(!valid_authority(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_absolute_form_target_becomes_its_origin_form() {
        let cases = [
            ("http://h:8000/plain", Some("/plain")),
            ("HTTP://h/users/7?x=1", Some("/users/7?x=1")),
            ("https://h", Some("/")),
            ("http://h?q=1", Some("/?q=1")),
            ("/plain", None),
            ("*", None),
        ];
        for (target, origin) in cases {
            assert_eq!(
                absolute_form(target).unwrap().as_deref(),
                origin,
                "{target}"
            );
        }
        for bad in ["http://user@evil.com/", "http:///p", "http://a b/"] {
            assert_eq!(absolute_form(bad).map_err(|r| r.status), Err(400), "{bad}");
        }
    }
}
