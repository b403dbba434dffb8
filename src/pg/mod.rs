//! `yieldfrom::pg`: a PostgreSQL client on the runtime's own sockets (what
//! asyncpg is to asyncio), with a pool for servers.
//!
//! The wire format and the authentication (md5, SCRAM-SHA-256) are the
//! `postgres-protocol` crate's, the values `postgres-types`'s; the
//! connection, its pipelining and the pool are this module's.
//!
//! ```no_run
//! use yieldfrom::pg::{Client, Config};
//! use yieldfrom::{Coro, run};
//!
//! let names = run(Coro::new("main", || -> Result<Vec<String>, yieldfrom::pg::Error> {
//!     let config: Config = "postgres://ada:secret@127.0.0.1/shop".parse()?;
//!     let client = Client::connect(&config)?;
//!     let rows = client.query("SELECT name FROM users WHERE id < $1", &[&10i32])?;
//!     Ok(rows.iter().map(|r| r.get::<String>("name")).collect())
//! }));
//! # let _ = names;
//! ```
//!
//! **asyncpg, piece by piece.** `await asyncpg.connect(dsn)` is
//! [`Client::connect`]; `fetch`, `fetchrow`, `execute` are
//! [`Client::query`], [`Client::query_opt`], [`Client::execute`];
//! `async with conn.transaction()` is [`Client::transaction`]; a `Record`
//! is a [`Row`]; `asyncpg.create_pool` is [`Pool`]. No call is marked
//! `async`: each waits in the running task, and the loop serves the other
//! tasks meanwhile.
//!
//! **Encryption.** `sslmode` and the rest are libpq's: the default,
//! `prefer`, encrypts when the server can and checks nothing;
//! `?sslmode=verify-full&sslrootcert=system` is what a managed service
//! wants, and SCRAM logins over TLS are bound to the channel
//! (SCRAM-SHA-256-PLUS) whenever the server offers it. [`SslMode`] says
//! what each mode checks; the book's chapter "TLS as I/O" says why.
//!
//! **One connection, many tasks.** Clones of a [`Client`] share its
//! connection; the statements of every task are written in batches and
//! answered in order (pipelining), each ending with its own `Sync`, so that
//! one statement's error is that statement's alone. A task cancelled while
//! waiting leaves the connection in step: its replies are read and dropped.
//! A transaction holds the connection for itself; other tasks' statements
//! wait until it ends.

mod client;
mod cluster;
mod config;
mod connect;
mod connection;
mod error;
mod pipeline;
mod pool;
mod row;
mod statement;
mod stream;
mod transaction;
mod url;

pub use self::client::Client;
pub use self::cluster::{ClusterBuilder, SUPERUSER, TempCluster};
pub use self::config::{ChannelBinding, Config, Host, RootCert, SslMode};
pub use self::connection::Notification;
pub use self::error::{DbError, Error};
pub use self::pool::{Pool, PoolOptions, PooledClient};
pub use self::row::{Column, Row, RowIndex, SimpleIndex, SimpleRow};
pub use self::statement::Statement;
pub use self::transaction::Transaction;
pub use postgres_types::{FromSql, ToSql, Type};
