//! Fan-out: one command over many items. Placeholder templates, shell quoting, and
//! the lazy cartesian product of `:::` groups.
//!
//! An item is data, never shell code: every substitution is single-quoted for POSIX
//! `sh`, so `$(rm -rf ~)`, quotes, backticks, spaces and newlines arrive literally.

mod product;
mod quote;
mod template;

pub use product::Product;
pub use quote::shell_quote;
pub use template::{Placeholder, Template, TemplateError};
