//! The C ABI of tessera.
