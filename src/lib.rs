//! yieldfrom (crate docs are written in full below once the loop exists).
#![warn(missing_docs, rust_2018_idioms)]

pub mod coro;
pub mod generator;
pub mod stack;
pub mod warnings;

pub use coro::Coro;
pub use generator::{Co, FromIter, GenError, Generator, GeneratorState, Resume, Subgenerator, from_iter};
