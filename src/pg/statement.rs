//! A prepared statement, closed on the server when its last clone goes.

use std::rc::{Rc, Weak};

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use postgres_types::Type;

use super::row::Column;

/// The connection a statement was prepared on, as the statement sees it:
/// where its `Close` goes when it is dropped.
pub(super) trait StatementOwner {
    /// Queues `messages` (ending with a `Sync`) with nobody waiting for the
    /// replies.
    fn submit_abandoned(&self, messages: &[u8]);
}

/// A prepared statement: its parameters' types and its result's columns.
#[derive(Clone)]
pub struct Statement(pub(super) Rc<StatementInner>);

pub(super) struct StatementInner {
    /// Its name on the server; empty for the unnamed statement.
    pub(super) name: String,
    /// The SQL, for an unnamed statement: parsed again in each query's
    /// flight (the pooler-safe mode, see `Config::statement_cache`).
    pub(super) unnamed_sql: Option<String>,
    /// The parameters' types, as the server inferred them.
    pub(super) params: Vec<Type>,
    /// The result's columns.
    pub(super) columns: Rc<[Column]>,
    /// The connection, to close the statement there when it is dropped.
    pub(super) conn: Weak<dyn StatementOwner>,
}

impl Statement {
    /// The parameters' types, as the server inferred them.
    pub fn params(&self) -> &[Type] {
        &self.0.params
    }

    /// The result's columns (none for a statement that returns no rows).
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }
}

impl Drop for StatementInner {
    fn drop(&mut self) {
        if self.unnamed_sql.is_some() {
            return; // nothing to close on the server
        }
        if let Some(conn) = self.conn.upgrade() {
            let mut out = BytesMut::new();
            if frontend::close(b'S', &self.name, &mut out).is_ok() {
                frontend::sync(&mut out);
                conn.submit_abandoned(&out);
            }
        }
    }
}
impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statement")
            .field("name", &self.0.name)
            .field("params", &self.0.params)
            .field("columns", &self.0.columns)
            .finish()
    }
}
