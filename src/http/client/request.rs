//! A request being built, and sending it (redirects followed).

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::error::{Error, ErrorKind};
use super::response::Response;
use super::shared::Shared;
use super::url::Url;
use super::wire;
use crate::time::now;

/// A request body.
pub(super) enum Body {
    Empty,
    /// Bytes (sent again on a retry or a redirect that keeps the method).
    Bytes(Vec<u8>),
    /// Pieces from an iterator, sent chunked, once.
    Stream(Box<dyn Iterator<Item = Vec<u8>>>),
}

/// A request being built: [`send`](Self::send) sends it.
pub struct RequestBuilder {
    /// The client's shared part, which sends it.
    shared: Rc<Shared>,
    /// The method (a token, checked).
    method: String,
    /// Where it goes.
    url: Url,
    /// Headers added to the client's own.
    headers: Vec<(String, String)>,
    /// What is sent after the head.
    body: Body,
    /// This request's total limit, in place of the client's.
    timeout: Option<Duration>,
}

impl RequestBuilder {
    /// A request with `method` to `url` and nothing else yet.
    pub(super) fn new(shared: Rc<Shared>, method: &str, url: Url) -> RequestBuilder {
        RequestBuilder {
            shared,
            method: method.to_string(),
            url,
            headers: Vec::new(),
            body: Body::Empty,
            timeout: None,
        }
    }

    /// Adds a header (refused: a name that is not a token, a value with
    /// CR, LF or NUL, which could end the header and start another).
    pub fn header(mut self, name: &str, value: &str) -> Result<RequestBuilder, Error> {
        if !wire::is_header_name(name) || !wire::is_header_value(value) {
            return Err(Error::new(
                ErrorKind::Request(format!("the header {name:?} cannot be sent as it is")),
                &self.url,
            ));
        }
        self.headers.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// Adds `name=value` pairs to the URL's query, percent-encoded.
    pub fn query(mut self, pairs: &[(&str, &str)]) -> RequestBuilder {
        self.url.append_query(pairs);
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Result<RequestBuilder, Error> {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// The body, as bytes.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> RequestBuilder {
        self.body = Body::Bytes(bytes.into());
        self
    }

    /// The body as JSON, with `Content-Type: application/json`.
    pub fn json(mut self, value: &serde_json::Value) -> RequestBuilder {
        self.body = Body::Bytes(value.to_string().into_bytes());
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self
    }

    /// A body sent as it is produced, chunked (`pieces` runs in this task,
    /// between writes). It is sent once: no retry, and a redirect that
    /// keeps the method is returned as it is.
    pub fn body_stream(
        mut self,
        pieces: impl Iterator<Item = Vec<u8>> + 'static,
    ) -> RequestBuilder {
        self.body = Body::Stream(Box::new(pieces));
        self
    }

    /// The total limit for this request (in place of the client's).
    pub fn timeout(mut self, limit: Duration) -> RequestBuilder {
        self.timeout = Some(limit);
        self
    }

    /// Sends the request and waits for the response's head (the body is
    /// read after, by the [`Response`]); follows redirects.
    pub fn send(self) -> Result<Response, Error> {
        let RequestBuilder {
            shared,
            mut method,
            mut url,
            mut headers,
            mut body,
            timeout,
        } = self;
        let config = &shared.config;
        let total = timeout.unwrap_or(config.timeouts.total);
        let until = crate::event_loop::timer::deadline(now(), total);
        let decompress = config.decompress
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"));
        let mut redirects = 0;
        loop {
            let response =
                shared.exchange(&method, &url, &headers, &mut body, until, decompress)?;
            let status = response.status;
            let location = response.header("location").map(str::to_string);
            let follow = matches!(status, 301 | 302 | 303 | 307 | 308) && config.max_redirects > 0;
            let Some(location) = location.filter(|_| follow) else {
                return Ok(response);
            };
            if redirects == config.max_redirects {
                return Err(Error::new(
                    ErrorKind::TooManyRedirects(config.max_redirects),
                    &url,
                ));
            }
            let next = url
                .join(&location)
                .map_err(|e| Error::new(ErrorKind::Url(e), &url))?;
            // 303, and 301/302 after a POST, become a GET without a body
            // (what browsers, httpx and aiohttp do); 307/308 keep both.
            let keeps_method = matches!(status, 307 | 308);
            if !keeps_method && (status == 303 || method == "POST") && method != "HEAD" {
                method = "GET".into();
                body = Body::Empty;
                headers.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("content-type")
                        && !n.eq_ignore_ascii_case("content-length")
                });
            } else if matches!(body, Body::Stream(_)) {
                return Ok(response); // the body cannot be sent again
            }
            if !url.same_origin(&next) {
                headers.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("authorization")
                        && !n.eq_ignore_ascii_case("cookie")
                        && !n.eq_ignore_ascii_case("proxy-authorization")
                });
            }
            // A small body is read so that its connection can go back to
            // the pool; a large one (or a slow one) closes it.
            response.discard();
            url = next;
            redirects += 1;
        }
    }
}

/// `Basic` credentials.
pub(super) fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}
