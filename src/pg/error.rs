//! [`Error`]: what a query, a connection or the pool can fail with.

use std::fmt;
use std::io;
use std::sync::Arc;

/// An error the server reported (an `ErrorResponse`): the query failed, the
/// connection is still usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbError {
    /// `ERROR`, `FATAL` or `PANIC`.
    pub severity: String,
    /// The SQLSTATE code, five characters (`23505` is a unique violation,
    /// `42P01` an undefined table): Appendix A of the PostgreSQL manual.
    pub code: String,
    /// The primary message.
    pub message: String,
    /// A secondary message with more detail, if the server gave one.
    pub detail: Option<String>,
    /// A suggestion what to do, if the server gave one.
    pub hint: Option<String>,
}

impl DbError {
    /// The fields of an `ErrorResponse` or `NoticeResponse` body.
    pub(crate) fn parse(
        mut fields: postgres_protocol::message::backend::ErrorFields<'_>,
    ) -> io::Result<DbError> {
        use fallible_iterator::FallibleIterator;
        let mut e = DbError {
            severity: String::new(),
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        while let Some(field) = fields.next()? {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                // 'V' is the severity never localised; 'S' may be translated.
                b'V' => e.severity = value,
                b'S' if e.severity.is_empty() => e.severity = value,
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                _ => {}
            }
        }
        Ok(e)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (detail: {detail})")?;
        }
        Ok(())
    }
}

/// What a PostgreSQL operation can fail with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the query (or the login); see [`DbError::code`].
    Db(DbError),
    /// The socket failed, or the server closed it: every query waiting on
    /// that connection gets this.
    Io(Arc<io::Error>),
    /// The connection was closed or lost earlier; the pool replaces it.
    Closed,
    /// The server sent something this client cannot take (a malformed or
    /// oversized message, an authentication it does not speak).
    Protocol(String),
    /// A URL or an option that does not parse.
    Config(String),
    /// Encryption or channel binding could not be had as the config asks:
    /// the server refused TLS under `sslmode=require`, its certificate
    /// failed a check (the message names it: an unknown issuer, a name the
    /// certificate does not cover, an expired one), or the login was not
    /// bound to the TLS connection under `channel_binding=require`.
    Tls(String),
    /// A value could not be converted to or from its SQL type; the message
    /// names the column or parameter.
    Conversion(String),
    /// `query_one` got no row, or more than one.
    RowCount(usize),
    /// The pool's wait queue is full: the request is refused at once.
    PoolFull,
    /// No connection came free within the pool's acquire deadline.
    PoolTimeout,
    /// The pool could not open a connection: the server is down, starting
    /// up, refusing the login. The pool's requests fail with this at once
    /// while no connection is open and the next attempt is not due yet.
    Connect(Box<Error>),
}

impl Error {
    /// The SQLSTATE of a server error, if this is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Db(e) => Some(&e.code),
            _ => None,
        }
    }

    /// Whether the pool could not serve the request in time (full queue or
    /// deadline): an HTTP layer answers 503.
    pub fn is_overload(&self) -> bool {
        matches!(self, Error::PoolFull | Error::PoolTimeout)
    }

    /// Whether the pool could not reach the server at all
    /// ([`Error::Connect`]): an HTTP layer answers 503, saying so.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Connect(_))
    }

    /// Whether the request itself was at fault: the server refused a value
    /// it sent (SQLSTATE class 22, data exception: a NUL in a text, a
    /// number out of range) or the change would break a constraint (class
    /// 23, integrity violation: a unique key taken, a foreign key missing).
    /// An HTTP layer answers 4xx, not 5xx.
    pub fn is_client_fault(&self) -> bool {
        self.code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("23"))
    }

    pub(crate) fn protocol(what: impl Into<String>) -> Error {
        Error::Protocol(what.into())
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(Arc::new(e))
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Error {
        Error::Db(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Db(e) => write!(f, "PostgreSQL: {e}"),
            Error::Io(e) => write!(f, "PostgreSQL connection failed: {e}"),
            Error::Closed => f.write_str("the PostgreSQL connection is closed"),
            Error::Protocol(what) => write!(f, "PostgreSQL protocol error: {what}"),
            Error::Config(what) => write!(f, "PostgreSQL configuration: {what}"),
            Error::Tls(what) => write!(f, "PostgreSQL TLS: {what}"),
            Error::Conversion(what) => write!(f, "PostgreSQL value conversion: {what}"),
            Error::RowCount(n) => write!(f, "expected exactly one row, got {n}"),
            Error::PoolFull => f.write_str("the PostgreSQL pool's wait queue is full"),
            Error::PoolTimeout => {
                f.write_str("no PostgreSQL connection came free within the pool's deadline")
            }
            Error::Connect(e) => write!(f, "the database is unreachable: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Db(e) => Some(e),
            Error::Io(e) => Some(&**e),
            Error::Connect(e) => Some(&**e),
            _ => None,
        }
    }
}

impl std::error::Error for DbError {}
