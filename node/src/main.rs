//! The OpenVPP node: a validator or RPC node of the OpenVPP chain.

// `sc_cli::Error` and `sc_service::Error` are upstream types of 176 bytes that every
// subcommand returns; boxing them at each call would only obscure the code.
#![allow(clippy::result_large_err)]

mod bench_chain;
#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;

fn main() -> sc_cli::Result<()> {
	command::run()
}
