//! [`Response`]: a status, headers and a body, with helpers for text and JSON.

use std::borrow::Cow;

/// An HTTP response (Starlette's `Response`, `PlainTextResponse`,
/// `JSONResponse`). `Content-Length`, `Date` and `Connection` are the
/// server's to write; a handler sets the rest.
///
/// ```
/// use yieldfrom::http::Response;
/// let r = Response::json(&serde_json::json!({"message": "hello"}));
/// assert_eq!(r.status(), 200);
/// assert_eq!(r.body(), br#"{"message":"hello"}"#);
/// assert_eq!(r.header("content-type"), Some("application/json"));
/// let missing = Response::text("no such user").with_status(404);
/// assert_eq!(missing.status(), 404);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    status: u16,
    /// Names and values; the server's own (a content type) are borrowed.
    headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The body.
    body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// let r = Response::new(204);
    /// assert_eq!((r.status(), r.body()), (204, &b""[..]));
    /// ```
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `200 OK` with a `text/plain; charset=utf-8` body.
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// let r = Response::text("hello");
    /// assert_eq!(r.status(), 200);
    /// assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    /// ```
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200)
            .with_static_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// A `200 OK` with `value` as an `application/json` body.
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// let r = Response::json(&serde_json::json!({"id": 7}));
    /// assert_eq!(r.header("Content-Type"), Some("application/json"));
    /// assert_eq!(r.body(), br#"{"id":7}"#);
    /// ```
    pub fn json(value: &serde_json::Value) -> Response {
        Response::new(200)
            .with_static_header("Content-Type", "application/json")
            // Straight into bytes (`to_string` goes through `fmt`).
            .with_body(serde_json::to_vec(value).expect("a JSON value always serialises"))
    }

    /// The same response with `status`.
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// let created = Response::json(&serde_json::json!({"id": 8})).with_status(201);
    /// assert_eq!(created.status(), 201);
    /// ```
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// The same response with one more header.
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// let r = Response::new(301).with_header("Location", "/new-home");
    /// assert_eq!(r.header("location"), Some("/new-home"));
    /// ```
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers
            .push((Cow::Owned(name.to_string()), Cow::Owned(value.to_string())));
        self
    }

    /// [`with_header`](Self::with_header) for a name and value known at
    /// compile time (no copy).
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// let r = Response::text("cached").with_static_header("Cache-Control", "max-age=60");
    /// assert_eq!(r.header("Cache-Control"), Some("max-age=60"));
    /// ```
    pub fn with_static_header(mut self, name: &'static str, value: &'static str) -> Response {
        self.headers
            .push((Cow::Borrowed(name), Cow::Borrowed(value)));
        self
    }

    /// The same response with `body`.
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// let r = Response::new(200).with_header("Content-Type", "image/png").with_body(vec![0x89, b'P']);
    /// assert_eq!(r.body().len(), 2);
    /// ```
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The status code.
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// assert_eq!(Response::text("ok").status(), 200);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (case-insensitive).
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// let r = Response::text("x");
    /// assert!(r.header("CONTENT-TYPE").is_some()); // any case
    /// assert_eq!(r.header("Set-Cookie"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The body.
    ///
    /// ```
    /// use yieldfrom::http::Response;
    /// assert_eq!(Response::text("body text").body(), b"body text");
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Appends the response to `out` as HTTP/1.1: status line, the
    /// handler's headers, `Content-Length`, `Date`, `Connection: close` when
    /// `close`, and the body unless `head` (a HEAD request gets GET's
    /// headers with no body).
    pub(crate) fn write_to(
        &self,
        out: &mut Vec<u8>,
        date: &str,
        close: bool,
        keep_alive_1_0: bool,
        head: bool,
    ) {
        // Plain byte pushes: formatting machinery costs more than the
        // rest of the response on a small one.
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            // The framing headers are the server's: a handler's would lie.
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("connection")
                || name.eq_ignore_ascii_case("date")
            {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let bodyless = self.status < 200 || self.status == 204 || self.status == 304;
        if !bodyless {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, self.body.len() as u64);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(b"\r\n");
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if keep_alive_1_0 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head && !bodyless {
            out.extend_from_slice(&self.body);
        }
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The answer to a body that is not JSON: its status, and `{"detail": ...}`.
impl From<super::request::JsonError> for Response {
    fn from(e: super::request::JsonError) -> Response {
        Response::json(&serde_json::json!({ "detail": e.detail() })).with_status(e.status())
    }
}

/// A PostgreSQL error as an answer, as JSON `{"detail": ...}`:
///
/// - 503 with `Retry-After: 1` when the pool is overloaded (its line full,
///   or its deadline passed: "busy") or cannot reach the server at all
///   ("unreachable": down, restarting, refusing the login);
/// - 4xx when the request's own data was refused, so that a client cannot
///   raise the server-error rate at will: 409 for a unique or exclusion
///   violation (23505, 23P01: the value is taken), 422 for any other
///   integrity violation (class 23: a missing foreign key, a NOT NULL, a
///   CHECK), 400 for a data exception (class 22: a NUL in a text, a number
///   out of range, a malformed value);
/// - 500 for everything else: the server's own failures.
///
/// A server error's text is not shown to the client (it can name tables
/// and values), only its SQLSTATE.
///
/// ```
/// use yieldfrom::http::Response;
/// use yieldfrom::pg::Error;
/// let busy = Response::from(Error::PoolTimeout);
/// assert_eq!((busy.status(), busy.header("retry-after")), (503, Some("1")));
/// let down = Response::from(Error::Connect(Box::new(Error::Closed)));
/// assert_eq!(down.status(), 503);
/// assert_eq!(Response::from(Error::Closed).status(), 500);
/// ```
#[cfg(feature = "pg")]
impl From<crate::pg::Error> for Response {
    fn from(e: crate::pg::Error) -> Response {
        let unavailable = |detail: &str| {
            Response::json(&serde_json::json!({ "detail": detail }))
                .with_status(503)
                .with_static_header("Retry-After", "1")
        };
        if e.is_overload() {
            return unavailable("the database is busy; try again");
        }
        if e.is_unreachable() {
            return unavailable("the database is unreachable; try again");
        }
        let Some(code) = e.code() else {
            return Response::json(&serde_json::json!({"detail": "database unavailable"}))
                .with_status(500);
        };
        let status = match code {
            "23505" | "23P01" => 409,
            c if c.starts_with("23") => 422,
            c if c.starts_with("22") => 400,
            _ => 500,
        };
        let detail = match status {
            409 => format!("the value is already taken (SQLSTATE {code})"),
            422 => format!("the change breaks a constraint (SQLSTATE {code})"),
            400 => format!("a value was refused by the database (SQLSTATE {code})"),
            _ => format!("database error (SQLSTATE {code})"),
        };
        Response::json(&serde_json::json!({ "detail": detail })).with_status(status)
    }
}

/// The reason phrase of a status code (RFC 9110 §15).
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::{Response, push_decimal};

    #[test]
    fn decimals_are_written_digit_for_digit() {
        for n in [0, 7, 10, 204, 99_999, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn a_response_is_written_as_http_1_1() {
        let r = Response::text("gone")
            .with_status(404)
            .with_header("X-Why", "moved")
            .with_header("Content-Length", "999"); // the server's to write
        let mut out = Vec::new();
        r.write_to(
            &mut out,
            "Tue, 01 Dec 2026 00:00:00 GMT",
            true,
            false,
            false,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
             X-Why: moved\r\nContent-Length: 4\r\nDate: Tue, 01 Dec 2026 00:00:00 GMT\r\n\
             Connection: close\r\n\r\ngone"
        );
        let mut head = Vec::new();
        Response::new(204).write_to(&mut head, "D", false, true, true);
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "HTTP/1.1 204 No Content\r\nDate: D\r\nConnection: keep-alive\r\n\r\n"
        );
    }
}
