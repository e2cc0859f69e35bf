//! The public API's inputs and outputs, free of any HTTP library: bodies in, typed
//! requests or `ApiError`s out ([`parse`]); guard replies in, JSON out ([`answer`]).

mod answer;
mod parse;

pub use answer::*;
pub use parse::*;
