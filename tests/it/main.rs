//! fullsite's integration tests, in one binary: the real `fullsite` binary run against real
//! servers (see [`support`]), one module per area. Run one area with a module path filter, e.g.
//! `cargo test --test it pg::parity::` or `cargo test --test it json_output`.
//!
//! One binary means one link and one set of servers: the shared PostgreSQL and Garage (and the
//! PostgreSQL of each major) start once, on first use, for the whole run, and every test makes
//! its own databases and buckets (unique names). Tests run in parallel threads of one process,
//! so none may change the process's environment or working directory: settings and fault
//! points go to the child process (`Command::env`). A test that freezes or stops a server
//! starts a server of its own for that.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod browse;
mod config;
mod drill;
mod exit_codes;
mod faults;
mod generations;
mod json_output;
mod live_site;
mod lock_and_signals;
mod objects;
mod offsite;
mod operations;
mod pg;
mod pings;
mod servers;
