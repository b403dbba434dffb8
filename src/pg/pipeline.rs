//! The connection's two tasks: the reader, which cuts the server's
//! replies into messages and sorts them (aside, or to the statement at the
//! front of the queue), and the writer, which sends what the queries of
//! every task have gathered with one `write` per batch.

use std::rc::Rc;

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;

use super::connection::{Inner, Notification};
use super::error::{DbError, Error};
use super::stream::next_message;
use crate::reason::Suspend;
use crate::task::suspend::{Waker, suspend_or_cancel};

/// Notifications kept unread before the oldest are dropped.
const MAX_NOTIFICATIONS: usize = 10_000;

impl Inner {
    /// Sorts one message from the server: aside, or to the front slot.
    fn dispatch(&self, message: Message) -> Result<(), Error> {
        let mut st = self.state.borrow_mut();
        match message {
            Message::NoticeResponse(body) => {
                let notice = DbError::parse(body.fields())?;
                if st.notices.len() >= 100 {
                    st.notices.pop_front();
                }
                st.notices.push_back(notice);
            }
            Message::ParameterStatus(body) => {
                let (name, value) = (body.name()?.to_string(), body.value()?.to_string());
                st.params.insert(name, value);
            }
            Message::NotificationResponse(body) => {
                let n = Notification {
                    process_id: body.process_id(),
                    channel: body.channel()?.to_string(),
                    payload: body.message()?.to_string(),
                };
                if st.notifications.len() >= MAX_NOTIFICATIONS {
                    st.notifications.pop_front();
                }
                st.notifications.push_back(n);
                self.notified.set();
            }
            message => {
                let end = matches!(message, Message::ReadyForQuery(_));
                let Some(front) = st.pending.front_mut() else {
                    return Err(Error::protocol("a reply to no statement"));
                };
                if front.wanted() {
                    front.messages.push(message);
                }
                if end {
                    let front = st.pending.pop_front().expect("checked above");
                    drop(st);
                    front.finish(Ok(()));
                }
            }
        }
        Ok(())
    }
}

/// The reader task: cuts the server's stream into messages.
pub(super) fn read_loop(inner: Rc<Inner>, mut buf: BytesMut) {
    let mut scratch = vec![0u8; 16 * 1024];
    let why = loop {
        match next_message(&inner.stream, &mut buf, &mut scratch) {
            Ok(message) => {
                if let Err(e) = inner.dispatch(message) {
                    break e;
                }
            }
            Err(e) => break e,
        }
    };
    inner.close(why);
}

/// The writer task: writes what has gathered, one `write` per batch.
pub(super) fn write_loop(inner: Rc<Inner>) {
    loop {
        let batch = {
            let mut st = inner.state.borrow_mut();
            if st.closed.is_some() {
                return;
            }
            if st.out.is_empty() {
                st.writer = Some(Waker::current());
                None
            } else {
                Some(st.out.split())
            }
        };
        match batch {
            None => {
                suspend_or_cancel(Suspend::Sync("PostgreSQL writer"));
            }
            Some(batch) => {
                if let Err(e) = inner.stream.write_all(&batch) {
                    inner.close(e.into());
                    return;
                }
                // Give the buffer's room back for the next batch.
                let mut st = inner.state.borrow_mut();
                if st.out.is_empty() {
                    let mut batch = batch;
                    batch.clear();
                    st.out.unsplit(batch);
                }
            }
        }
    }
}
