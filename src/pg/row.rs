//! [`Row`]: one row of a result, its values decoded on demand by
//! `postgres-types` (binary format).

use std::ops::Range;
use std::rc::Rc;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::DataRowBody;
use postgres_types::{FromSql, Type};

use super::error::Error;

/// A result column: its name and SQL type.
#[derive(Clone, Debug)]
pub struct Column {
    /// The column's name.
    pub(crate) name: String,
    /// Its type (the server's, by oid).
    pub(crate) type_: Type,
}

impl Column {
    /// The column's name (`id`, or `?column?` for an unnamed expression).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's SQL type.
    pub fn type_(&self) -> &Type {
        &self.type_
    }
}

/// One row of a query's result (asyncpg's `Record`).
///
/// ```no_run
/// # fn main() -> Result<(), yieldfrom::pg::Error> {
/// # let client: yieldfrom::pg::Client = unimplemented!();
/// let row = client.query_one("SELECT 7::int4 AS id, 'ada'::text AS name", &[])?;
/// let id: i32 = row.get("id");
/// let name: &str = row.get(1);
/// let missing: Option<String> = row.try_get("email").unwrap_or(None);
/// # let _ = (id, name, missing); Ok(()) }
/// ```
pub struct Row {
    /// The columns, shared by the rows of one result.
    columns: Rc<[Column]>,
    /// The values, each a length and its bytes, found again on each `get`
    /// (a row has a handful of columns: a walk is cheaper than a `Vec`).
    body: DataRowBody,
}

impl Row {
    pub(crate) fn new(columns: Rc<[Column]>, body: DataRowBody) -> Result<Row, Error> {
        // Checked whole once, so that `range` cannot fail later.
        let values = body
            .ranges()
            .count()
            .map_err(|e| Error::protocol(format!("a malformed data row: {e}")))?;
        if values != columns.len() {
            return Err(Error::protocol(format!(
                "a data row of {values} values for {} columns",
                columns.len()
            )));
        }
        Ok(Row { columns, body })
    }

    /// Where value `i` is in the body (`None`: NULL).
    fn range(&self, i: usize) -> Option<Range<usize>> {
        self.body.ranges().nth(i).ok().flatten().flatten()
    }

    /// The row's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// How many values the row has.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no values.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The value of column `idx` (a position or a name) as `T`.
    ///
    /// Panics if there is no such column or the value does not convert
    /// (wrong type, NULL into a non-`Option`); [`try_get`](Self::try_get)
    /// returns the error instead.
    #[track_caller]
    pub fn get<'a, T: FromSql<'a>>(&'a self, idx: impl RowIndex) -> T {
        match self.try_get(idx) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// The value of column `idx` as `T`, or why it cannot be.
    pub fn try_get<'a, T: FromSql<'a>>(&'a self, idx: impl RowIndex) -> Result<T, Error> {
        let Some(i) = idx.index(&self.columns) else {
            return Err(Error::Conversion(format!("no column {}", idx.describe())));
        };
        let column = &self.columns[i];
        if !T::accepts(&column.type_) {
            return Err(Error::Conversion(format!(
                "column '{}' is {}, which {} does not take",
                column.name,
                column.type_,
                std::any::type_name::<T>()
            )));
        }
        let raw = self.range(i).map(|r| &self.body.buffer()[r]);
        T::from_sql_nullable(&column.type_, raw)
            .map_err(|e| Error::Conversion(format!("column '{}': {e}", column.name)))
    }
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (i, c) in self.columns.iter().enumerate() {
            let r = self.range(i);
            match &r {
                None => m.entry(&c.name, &"NULL"),
                Some(r) => m.entry(&c.name, &format_args!("<{} bytes>", r.len())),
            };
        }
        m.finish()
    }
}

/// A way to name a column: its position (`usize`) or its name (`&str`).
pub trait RowIndex {
    /// The column's position among `columns`, if there is one.
    fn index(&self, columns: &[Column]) -> Option<usize>;
    /// How to name it in a message.
    fn describe(&self) -> String;
}

impl RowIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        format!("at position {self}")
    }
}

impl RowIndex for &str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name == *self)
    }
    fn describe(&self) -> String {
        format!("named '{self}'")
    }
}

/// A row of the simple query protocol: every value as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimpleRow {
    /// The columns' names, shared by the rows of one result.
    pub(crate) columns: Rc<[String]>,
    /// The values as text (`None` for NULL).
    pub(crate) values: Vec<Option<String>>,
}

impl SimpleRow {
    /// The value of column `idx` (a position or a name), as the server
    /// printed it; `None` for NULL or no such column.
    pub fn get(&self, idx: impl SimpleIndex) -> Option<&str> {
        let i = idx.position(&self.columns)?;
        self.values.get(i)?.as_deref()
    }

    /// The columns' names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
}

/// A way to name a column of a [`SimpleRow`].
pub trait SimpleIndex {
    /// The column's position, if there is one.
    fn position(&self, columns: &[String]) -> Option<usize>;
}

impl SimpleIndex for usize {
    fn position(&self, columns: &[String]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl SimpleIndex for &str {
    fn position(&self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}
