//! Server-sent events (the WHATWG `text/event-stream` format), parsed as
//! the bytes come: an event is handed over at the blank line that ends
//! it, not when a buffer fills, so a streamed answer (an LLM's tokens)
//! arrives token by token.

use std::time::Duration;

/// One event of a `text/event-stream` response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field; `message` when none was given.
    pub event: String,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
    /// The `id:` field, if the event had one (the last one seen is what a
    /// reconnecting client sends as `Last-Event-ID`).
    pub id: Option<String>,
    /// The `retry:` field: how long the server asks a client to wait
    /// before reconnecting.
    pub retry: Option<Duration>,
}

/// The parser's state between reads.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    /// The incomplete line so far.
    line: Vec<u8>,
    /// The last byte was a CR (a CRLF's LF must not end a second line).
    after_cr: bool,
    /// The `event:` field of the event being read.
    event: String,
    /// Its `data:` lines, joined by newlines.
    data: String,
    /// Whether a `data:` line came (an event without one is not dispatched).
    has_data: bool,
    /// The last `id:` seen (kept across events, as the spec says).
    id: Option<String>,
    /// The reconnection time the server asked for.
    retry: Option<Duration>,
    /// The stream's first bytes: a UTF-8 BOM there is dropped.
    started: bool,
}

/// The longest line kept (a stream that never ends a line must not grow
/// without bound).
pub(crate) const MAX_LINE: usize = 1 << 20;

impl Parser {
    /// Feeds `bytes`; the events they complete are pushed to `out`. An
    /// error for a line past [`MAX_LINE`].
    pub(crate) fn feed(
        &mut self,
        mut bytes: &[u8],
        out: &mut Vec<Event>,
    ) -> Result<(), &'static str> {
        if !self.started && !bytes.is_empty() {
            self.started = true;
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out);
                    self.line = line;
                    self.line.clear();
                }
                b => {
                    self.after_cr = false;
                    if self.line.len() >= MAX_LINE {
                        return Err("an event-stream line longer than 1 MiB");
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            // Dispatch: an event with data, or nothing.
            if self.has_data {
                out.push(Event {
                    event: if self.event.is_empty() {
                        "message".into()
                    } else {
                        std::mem::take(&mut self.event)
                    },
                    data: std::mem::take(&mut self.data),
                    id: self.id.clone(),
                    retry: self.retry.take(),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return; // a comment (a keep-alive ping)
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_at_blank_lines_whatever_the_reads() {
        let wire = "\u{feff}: ping\n\nevent: token\ndata: Hel\ndata: lo\nid: 7\n\r\ndata:x\rretry: 3000\r\n\r\ndata\n\nnothing: here\n\n";
        let expected = vec![
            Event {
                event: "token".into(),
                data: "Hel\nlo".into(),
                id: Some("7".into()),
                retry: None,
            },
            Event {
                event: "message".into(),
                data: "x".into(),
                id: Some("7".into()),
                retry: Some(Duration::from_millis(3000)),
            },
            Event {
                event: "message".into(),
                data: "".into(),
                id: Some("7".into()),
                retry: None,
            },
        ];
        // Whole, and cut at every byte.
        for cut in [usize::MAX, 1] {
            let mut parser = Parser::default();
            let mut got = Vec::new();
            let bytes = wire.as_bytes();
            if cut == usize::MAX {
                parser.feed(bytes, &mut got).unwrap();
            } else {
                for b in bytes.chunks(cut) {
                    parser.feed(b, &mut got).unwrap();
                }
            }
            assert_eq!(got, expected, "cut {cut}");
        }
        // An event is out as soon as its blank line is in.
        let mut parser = Parser::default();
        let mut got = Vec::new();
        parser.feed(b"data: a\n", &mut got).unwrap();
        assert!(got.is_empty());
        parser.feed(b"\n", &mut got).unwrap();
        assert_eq!(got.len(), 1);
        let mut endless = Parser::default();
        assert!(
            endless
                .feed(&vec![b'x'; MAX_LINE + 1], &mut Vec::new())
                .is_err()
        );
    }
}
