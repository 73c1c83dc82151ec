//! `volley compare A B`: two recorded runs side by side (see `report::compare`).

use super::args::{Cli, CompareArgs};
use super::report::{History, print_quietly};
use super::{CliError, exit};
use crate::report::compare;

pub fn compare(cli: &Cli, args: &CompareArgs) -> Result<i32, CliError> {
    let history = History::open(cli)?;
    let a = history.report(history.run_id(&args.a)?, false)?;
    let b = history.report(history.run_id(&args.b)?, false)?;
    let comparison = compare::compare(&a, &b);
    let text = if args.json { compare::render_json(&comparison) } else { compare::render_text(&comparison) };
    print_quietly(text.as_bytes())?;
    Ok(exit::SUCCESS)
}
