//! A transaction: the connection held by one task from `BEGIN` to
//! `COMMIT` (or a rollback queued on every other way out).

use std::cell::Cell;
use std::rc::Rc;

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use postgres_types::ToSql;

use super::client::{Client, one, opt};
use super::connection::Inner;
use super::error::Error;
use super::row::Row;

impl Client {
    /// Runs `f` in a transaction on this connection, which no other task's
    /// query enters meanwhile (they wait their turn): committed if `f`
    /// returns `Ok`, rolled back if it returns `Err`, panics or is
    /// cancelled (the rollback is queued ahead of anything else, so the
    /// connection is clean for the next user).
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let inner = self.inner();
        inner.gate(true)?;
        // From here the guard rolls back (unless done) and lets the others
        // in, on every way out: an error, a panic, a cancellation.
        let tx = Transaction {
            inner,
            done: Cell::new(false),
        };
        inner.simple_query("BEGIN")?;
        let value = f(&tx)?;
        tx.done.set(true);
        let commit = inner.simple_query("COMMIT");
        drop(tx);
        commit.map(|_| value)
    }
}

/// A transaction in progress (see [`Client::transaction`]).
pub struct Transaction<'a> {
    /// The connection it holds.
    inner: &'a Rc<Inner>,
    /// Committed: no rollback on drop.
    done: Cell<bool>,
}

impl Transaction<'_> {
    /// [`Client::query`], inside the transaction.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// client.transaction(|tx| {
    ///     let rows = tx.query("SELECT id FROM accounts WHERE owner = $1 FOR UPDATE", &[&"ada"])?;
    ///     Ok(rows.len())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, Error> {
        self.inner.query(sql, params)
    }

    /// [`Client::query_one`], inside the transaction.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let balance: i64 = client.transaction(|tx| {
    ///     Ok(tx.query_one("SELECT balance FROM accounts WHERE id = $1", &[&1i32])?.get(0))
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn query_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Row, Error> {
        one(self.inner.query(sql, params)?)
    }

    /// [`Client::query_opt`], inside the transaction.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let found = client.transaction(|tx| tx.query_opt("SELECT 1 FROM accounts WHERE id = $1", &[&9i32]))?;
    /// # Ok(()) }
    /// ```
    pub fn query_opt(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, Error> {
        opt(self.inner.query(sql, params)?)
    }

    /// [`Client::execute`], inside the transaction.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// client.transaction(|tx| {
    ///     tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1", &[])?;
    ///     tx.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 2", &[])?;
    ///     Ok(()) // both, or neither
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, Error> {
        self.inner.execute(sql, params)
    }

    /// [`Client::batch_execute`], inside the transaction.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// client.transaction(|tx| tx.batch_execute("LOCK TABLE accounts; TRUNCATE audit"))?;
    /// # Ok(()) }
    /// ```
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.inner.simple_query(sql).map(drop)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done.get() {
            // Queued, not awaited: this may run while a cancellation
            // unwinds. Whatever comes next on the connection is written
            // after it.
            let mut out = BytesMut::new();
            if frontend::query("ROLLBACK", &mut out).is_ok() {
                self.inner.submit_abandoned(&out);
            }
        }
        self.inner.release_gate();
    }
}
impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transaction { .. }")
    }
}
