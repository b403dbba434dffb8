//! [`Request`]: what a handler gets (method, target, headers, body).

use std::borrow::Cow;
use std::rc::Rc;

use super::body::{BodyError, Deferred};
use super::framing::Fields;

/// An HTTP request (Starlette's `Request`).
///
/// Its body is read in full before the handler runs, except when the
/// client sent `Expect: 100-continue` and waits for a go-ahead: then the
/// go-ahead is sent, and the body read, when the handler first asks for it
/// ([`body`](Self::body) or [`try_body`](Self::try_body)). A handler that
/// answers without looking at the body (a 401, a 413 on its own terms)
/// never makes the client send it; the connection closes after such a
/// response, since the body may still be on its way.
///
/// ```
/// use yieldfrom::http::Request;
/// let req = Request::new("GET", "/users/7?verbose=1&name=ada")
///     .with_header("Accept", "application/json");
/// assert_eq!(req.method(), "GET");
/// assert_eq!(req.path(), "/users/7");
/// assert_eq!(req.query_param("name").as_deref(), Some("ada"));
/// assert_eq!(req.header("accept"), Some("application/json"));
/// ```
#[derive(Clone, Debug)]
pub struct Request {
    /// The method.
    method: Cow<'static, str>,
    /// The target and the header fields.
    fields: Fields,
    /// HTTP/1.x minor version: 1 or 0.
    minor: u8,
    /// The body: read, or to be read on first use.
    body: Body,
    /// Path parameters the route matched, by name.
    params: Vec<(String, String)>,
}

impl Request {
    /// A request for `method` and `target` (path and query), HTTP/1.1, no
    /// headers, no body (for tests of handlers).
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("GET", "/users?page=2");
    /// assert_eq!((req.method(), req.path(), req.version()), ("GET", "/users", "HTTP/1.1"));
    /// ```
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: Cow::Owned(method.to_string()),
            fields: Fields::new(target),
            minor: 1,
            body: Body::Read(Vec::new()),
            params: Vec::new(),
        }
    }

    pub(crate) fn parsed(
        method: Cow<'static, str>,
        fields: Fields,
        minor: u8,
        body: Vec<u8>,
    ) -> Request {
        Request {
            method,
            fields,
            minor,
            body: Body::Read(body),
            params: Vec::new(),
        }
    }

    /// The same request with one more header. Panics if the target and
    /// the headers together pass 4 GiB.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("GET", "/").with_header("Accept", "text/html");
    /// assert_eq!(req.header("accept"), Some("text/html"));
    /// ```
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.fields.push(name, value);
        self
    }

    /// The same request with `body`.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("POST", "/notes").with_body("remember the milk");
    /// assert_eq!(req.body(), b"remember the milk");
    /// ```
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Body::Read(body.into());
        self
    }

    /// This request with its body read on first use, by `deferred`.
    pub(crate) fn with_deferred_body(mut self, deferred: Rc<Deferred>) -> Request {
        self.body = Body::Deferred(deferred);
        self
    }

    /// The method (`GET`, `POST`, ...).
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// assert_eq!(Request::new("DELETE", "/users/7").method(), "DELETE");
    /// ```
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent: path and query.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// assert_eq!(Request::new("GET", "/search?q=rust").target(), "/search?q=rust");
    /// ```
    pub fn target(&self) -> &str {
        self.fields.target()
    }

    /// The path, without the query.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// assert_eq!(Request::new("GET", "/search?q=rust").path(), "/search");
    /// ```
    pub fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(p, _)| p)
    }

    /// The query string (after `?`), if any.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// assert_eq!(Request::new("GET", "/search?q=rust&page=2").query(), Some("q=rust&page=2"));
    /// assert_eq!(Request::new("GET", "/search").query(), None);
    /// ```
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The first value of query parameter `name`, `+` and `%XX` decoded.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("GET", "/search?q=stackful+coroutines&lang=%F0%9F%A6%80");
    /// assert_eq!(req.query_param("q").as_deref(), Some("stackful coroutines"));
    /// assert_eq!(req.query_param("lang").as_deref(), Some("🦀"));
    /// assert_eq!(req.query_param("page"), None);
    /// ```
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == name).then(|| decode(v))
        })
    }

    /// The first value of header `name` (case-insensitive), if it is text.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("GET", "/").with_header("X-Request-Id", "abc");
    /// assert_eq!(req.header("x-request-id"), Some("abc")); // any case
    /// assert_eq!(req.header("Cookie"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header, in the order received.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("GET", "/").with_header("A", "1").with_header("B", "2");
    /// assert_eq!(req.headers().collect::<Vec<_>>(), [("A", "1"), ("B", "2")]);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.headers()
    }

    /// The body (empty when there is none, or when it could not be read:
    /// then the server answers with [`BodyError::status`] whatever the
    /// handler returns; [`try_body`](Self::try_body) says why).
    ///
    /// May wait: a body held back by `Expect: 100-continue` is read here.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// assert_eq!(Request::new("GET", "/").body(), b""); // none
    /// ```
    pub fn body(&self) -> &[u8] {
        self.try_body().unwrap_or(&[])
    }

    /// The body, or why it could not be read (too large, malformed chunks,
    /// stalled, the client gone). May wait, as [`body`](Self::body) does.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("PUT", "/blob").with_body(vec![0u8; 3]);
    /// assert_eq!(req.try_body().unwrap().len(), 3);
    /// ```
    pub fn try_body(&self) -> Result<&[u8], BodyError> {
        match &self.body {
            Body::Read(body) => Ok(body),
            Body::Deferred(deferred) => deferred.body(),
        }
    }

    /// The body as JSON, or why not, with the status to answer
    /// (`Response::from(error)` makes the answer): 415 when the request's
    /// `Content-Type` is not JSON (`application/json`, or a `+json` type
    /// such as `application/merge-patch+json`; a missing one too, as
    /// axum's `Json` and FastAPI's body models do: a form or plain text
    /// posted by mistake is told so, not parsed), 400 when the body is not
    /// JSON, the body error's status when it could not be read.
    ///
    /// ```
    /// use yieldfrom::http::{Request, Response};
    /// let ok = Request::new("POST", "/users")
    ///     .with_header("Content-Type", "application/json; charset=utf-8")
    ///     .with_body(r#"{"name": "Ada"}"#);
    /// assert_eq!(ok.json().unwrap()["name"], "Ada");
    /// let form = Request::new("POST", "/users")
    ///     .with_header("Content-Type", "application/x-www-form-urlencoded")
    ///     .with_body("name=Ada");
    /// assert_eq!(Response::from(form.json().unwrap_err()).status(), 415);
    /// let broken = Request::new("POST", "/users")
    ///     .with_header("Content-Type", "application/json")
    ///     .with_body("{");
    /// assert_eq!(broken.json().unwrap_err().status(), 400);
    /// ```
    pub fn json(&self) -> Result<serde_json::Value, JsonError> {
        let essence = self.header("content-type").map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        let is_json = essence.as_deref().is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        });
        if !is_json {
            return Err(JsonError {
                status: 415,
                detail: "expected a request with Content-Type: application/json".into(),
            });
        }
        let body = self.try_body().map_err(|e| JsonError {
            status: e.status(),
            detail: e.to_string(),
        })?;
        serde_json::from_slice(body).map_err(|e| JsonError {
            status: 400,
            detail: format!("malformed JSON: {e}"),
        })
    }

    /// A path parameter the route matched (`/users/{id}` gives `id`).
    ///
    /// ```
    /// use yieldfrom::http::{Request, Response, Router};
    /// let router = Router::new().get("/posts/{post}/comments/{n}", |req| {
    ///     Response::text(format!("{}#{}", req.param("post").unwrap(), req.param("n").unwrap()))
    /// });
    /// assert_eq!(router.handle(Request::new("GET", "/posts/hello/comments/3")).body(), b"hello#3");
    /// ```
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The protocol, `HTTP/1.1` or `HTTP/1.0`.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// assert_eq!(Request::new("GET", "/").version(), "HTTP/1.1");
    /// ```
    pub fn version(&self) -> &'static str {
        if self.minor == 0 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        }
    }

    pub(crate) fn set_params(&mut self, params: Vec<(String, String)>) {
        self.params = params;
    }
}

/// Why [`Request::json`] has no JSON: the status to answer with and what
/// to tell the client. `Response::from` it to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// The status to answer with.
    status: u16,
    /// What is wrong, for the client.
    detail: String,
}

impl JsonError {
    /// 415 (not sent as JSON), 400 (not JSON), or the body's own error.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("POST", "/").with_header("Content-Type", "text/plain").with_body("hi");
    /// assert_eq!(req.json().unwrap_err().status(), 415);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// What is wrong, for the client.
    ///
    /// ```
    /// use yieldfrom::http::Request;
    /// let req = Request::new("POST", "/").with_header("Content-Type", "application/json").with_body("{");
    /// let e = req.json().unwrap_err();
    /// assert_eq!(e.status(), 400);
    /// assert!(!e.detail().is_empty()); // says where the JSON broke
    /// ```
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for JsonError {}

/// A request's body: read, or to be read on first use.
#[derive(Clone, Debug)]
enum Body {
    Read(Vec<u8>),
    Deferred(Rc<Deferred>),
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; a malformed escape is kept as it is.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
