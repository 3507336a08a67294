//! Exit codes and the error type every command returns.

use std::fmt;
use std::process::ExitCode;

/// The exit codes of `tessera`, stable for scripts. Listed in `--help` and in the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the operation failed (storage or input/output error)
  2  usage error: bad command line or argument (also: an output file that already exists)
  3  no store at the path, not a tessera store, or a corrupt store
  4  the store is in use by another process that opened it exclusively
  5  token not found or not valid (`show`/`revoke` of an unknown id; `verify` of a rejected token)
  6  pepper problem (missing, wrong, or not expected)";

/// Why `tessera` stopped, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 1: the operation failed.
    Failed = 1,
    /// 2: usage error.
    Usage = 2,
    /// 3: no store, not a store, or corrupt.
    NoStore = 3,
    /// 4: locked by another process.
    Locked = 4,
    /// 5: token not found or not valid.
    Token = 5,
    /// 6: pepper problem.
    Pepper = 6,
}

impl From<Code> for ExitCode {
    fn from(c: Code) -> ExitCode {
        ExitCode::from(c as u8)
    }
}

/// An error to print on standard error, with the exit code it ends the program with.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: Code,
    /// What to tell the operator (empty: the command already said it).
    pub message: String,
}

impl Failure {
    /// A failure with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Code::Usage, message)
    }

    /// Adds what had happened before the failure to its message.
    pub fn with_context(mut self, context: &str) -> Failure {
        self.message = format!("{} ({context})", self.message);
        self
    }

    /// An exit code without a message: the command printed everything already.
    pub fn silent(code: Code) -> Failure {
        Failure::new(code, "")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<tessera::Error> for Failure {
    fn from(e: tessera::Error) -> Failure {
        use tessera::Error as E;
        let code = match &e {
            E::NotAStore(_) | E::Corrupt(_) | E::NewerSchema { .. } => Code::NoStore,
            E::Locked(_) => Code::Locked,
            E::NotFound | E::Rejected(_) => Code::Token,
            E::Pepper(_) => Code::Pepper,
            E::InvalidArgument(_) | E::OptionsConflict(_) => Code::Usage,
            _ => Code::Failed,
        };
        let mut message = e.to_string();
        if code == Code::Locked {
            message.push_str(
                ". If the application opens the store in the multi-process mode, pass \
                 --multi-process (or set TESSERA_MULTI_PROCESS=1)",
            );
        }
        Failure::new(code, message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::new(Code::Failed, format!("input/output error: {e}"))
    }
}

/// The result of a command.
pub type Result<T = (), E = Failure> = std::result::Result<T, E>;
