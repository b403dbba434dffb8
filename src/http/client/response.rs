//! A response: its status and headers, and ways to read its body (whole,
//! as text or JSON, in chunks, as server-sent events).

use std::fmt;
use std::time::Duration;

use super::body::BodyReader;
use super::error::{Error, ErrorKind};
use super::sse::{self, Event};
use super::url::Url;
use crate::time::now;

/// A response: the status and headers at once, the body as it is read.
///
/// Read the body ([`bytes`](Self::bytes), [`text`](Self::text),
/// [`json`](Self::json), [`chunk`](Self::chunk), [`events`](Self::events))
/// to the end and the connection goes back to the pool; drop the response
/// before that and the connection is closed.
pub struct Response {
    /// The status code.
    pub(super) status: u16,
    /// The reason phrase, as sent.
    pub(super) reason: String,
    /// The header fields, in order.
    pub(super) headers: Vec<(String, String)>,
    /// The URL that answered (the last, after redirects).
    pub(super) url: Url,
    /// The body, read on demand.
    pub(super) body: BodyReader,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase the server sent.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The headers, in the order they came (names as sent).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The URL that answered (the last one, after redirects).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The response if its status is below 400, else an
    /// [`ErrorKind::Status`] error (its connection closed).
    pub fn error_for_status(self) -> Result<Response, Error> {
        if self.status >= 400 {
            return Err(Error::new(ErrorKind::Status(self.status), &self.url));
        }
        Ok(self)
    }

    /// The next piece of the body as it arrives (decoded); `None` at its
    /// end. Each read waits at most the body's idle limit, within the total.
    pub fn chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        self.body.next(true)
    }

    /// The body, read whole (within the client's body limit).
    pub fn bytes(mut self) -> Result<Vec<u8>, Error> {
        let limit = self.body.shared.config.max_body;
        let mut all = Vec::new();
        while let Some(piece) = self.body.next(true)? {
            if all.len() + piece.len() > limit {
                return Err(Error::new(ErrorKind::BodyTooLarge(limit), &self.url));
            }
            all.extend_from_slice(&piece);
        }
        Ok(all)
    }

    /// The body as text (UTF-8; invalid bytes replaced).
    pub fn text(self) -> Result<String, Error> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The body as JSON.
    pub fn json(self) -> Result<serde_json::Value, Error> {
        let url = self.url.clone();
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Decode(format!("JSON: {e}")), &url))
    }

    /// The body as JSON, into `T`.
    pub fn json_as<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let url = self.url.clone();
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Decode(format!("JSON: {e}")), &url))
    }

    /// The body as server-sent events, each handed over as soon as its
    /// last line has come. No total limit applies (a stream may last
    /// hours); each wait for bytes is bounded by the body's idle limit.
    pub fn events(self) -> Events {
        Events {
            response: self,
            parser: sse::Parser::default(),
            ready: std::collections::VecDeque::new(),
            ended: false,
        }
    }

    /// Reads and drops a small body so that the connection can be used
    /// again; a body longer than 64 KiB, or one that does not come at
    /// once, closes the connection instead.
    pub(super) fn discard(mut self) {
        let mut read = 0usize;
        let quick = crate::event_loop::timer::deadline(now(), Duration::from_millis(100));
        self.body.until = self.body.until.min(quick);
        while read < 64 * 1024 {
            match self.body.next_raw(true) {
                Ok(Some(piece)) => read += piece.len(),
                _ => return,
            }
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// The events of a `text/event-stream` response ([`Response::events`]).
pub struct Events {
    /// The response whose body is the stream.
    pub(super) response: Response,
    /// Cuts the stream into events.
    pub(super) parser: sse::Parser,
    /// Events parsed and not yet returned.
    pub(super) ready: std::collections::VecDeque<Event>,
    /// The stream has ended.
    pub(super) ended: bool,
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Result<Event, Error>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            match self.response.body.next(false) {
                Ok(Some(bytes)) => {
                    let mut out = Vec::new();
                    if let Err(why) = self.parser.feed(&bytes, &mut out) {
                        self.ended = true;
                        return Some(Err(Error::new(
                            ErrorKind::Decode(why.into()),
                            &self.response.url,
                        )));
                    }
                    self.ready.extend(out);
                }
                Ok(None) => self.ended = true,
                Err(e) => {
                    self.ended = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("url", &self.response.url)
            .finish_non_exhaustive()
    }
}
