//! Dispatches the command line to the node service or a maintenance subcommand.

use openvpp_runtime::opaque::Block;
use sc_cli::SubstrateCli;
use sc_service::PartialComponents;

#[cfg(feature = "runtime-benchmarks")]
use crate::benchmarking;
use crate::{
	bench_chain, chain_spec,
	cli::{Cli, Subcommand},
	service,
};

impl SubstrateCli for Cli {
	fn impl_name() -> String {
		"OpenVPP Node".into()
	}

	fn impl_version() -> String {
		env!("SUBSTRATE_CLI_IMPL_VERSION").into()
	}

	fn description() -> String {
		env!("CARGO_PKG_DESCRIPTION").into()
	}

	fn author() -> String {
		env!("CARGO_PKG_AUTHORS").into()
	}

	fn support_url() -> String {
		"https://github.com/openvpp/openvpp/issues".into()
	}

	fn copyright_start_year() -> i32 {
		2026
	}

	fn load_spec(&self, id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
		Ok(match id {
			"dev" => Box::new(chain_spec::development_chain_spec()?),
			"" | "local" => Box::new(chain_spec::local_chain_spec()?),
			"staging" => Box::new(chain_spec::staging_chain_spec()?),
			other => match bench_chain::parse(other) {
				Some(parsed) => {
					let (fleet, validators) = parsed?;
					Box::new(bench_chain::bench_chain_spec(fleet, validators)?)
				}
				None => Box::new(chain_spec::ChainSpec::from_json_file(std::path::PathBuf::from(
					other,
				))?),
			},
		})
	}
}

/// Parses the command line and runs what it asks for.
pub fn run() -> sc_cli::Result<()> {
	// OpenVPP's address prefix is not in the SS58 registry, and addresses with an unregistered
	// prefix parse only when it is the process default: without this, the node would refuse
	// OpenVPP addresses in JSON-RPC (e.g. `system_accountNextIndex`) and `key` would print
	// generic Substrate ones.
	sp_core::crypto::set_default_ss58_version(sp_core::crypto::Ss58AddressFormat::custom(
		openvpp_runtime::SS58_PREFIX,
	));
	let cli = Cli::from_args();

	match &cli.subcommand {
		Some(Subcommand::Key(cmd)) => cmd.run(&cli),
		Some(Subcommand::BuildSpec(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.chain_spec, config.network))
		}
		Some(Subcommand::ExportChainSpec(cmd)) => {
			let chain_spec = cli.load_spec(&cmd.chain)?;
			cmd.run(chain_spec)
		}
		Some(Subcommand::CheckBlock(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		}
		Some(Subcommand::ExportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.database), task_manager))
			})
		}
		Some(Subcommand::ExportState(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.chain_spec), task_manager))
			})
		}
		Some(Subcommand::ImportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		}
		Some(Subcommand::PurgeChain(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.database))
		}
		Some(Subcommand::Revert(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, backend, .. } =
					service::new_partial(&config)?;
				// GRANDPA keeps its own authority-set state, which must be reverted with the
				// blocks.
				let aux_revert = Box::new(|client, _, blocks| {
					sc_consensus_grandpa::revert(client, blocks)?;
					Ok(())
				});
				Ok((cmd.run(client, backend, Some(aux_revert)), task_manager))
			})
		}
		Some(Subcommand::ChainInfo(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run::<Block>(&config))
		}
		#[cfg(feature = "runtime-benchmarks")]
		Some(Subcommand::Benchmark(cmd)) => {
			use crate::cli::BenchmarkCmd;
			use sp_blockchain::HeaderBackend;
			match cmd {
				BenchmarkCmd::Pallet(cmd) => {
					let runner = cli.create_runner(cmd)?;
					runner.sync_run(|config| {
						cmd.run_with_spec::<sp_runtime::traits::HashingFor<Block>, ()>(Some(
							config.chain_spec,
						))
					})
				}
				BenchmarkCmd::Storage(cmd) => {
					let runner = cli.create_runner(cmd)?;
					runner.sync_run(|config| {
						let PartialComponents { client, backend, .. } =
							service::new_partial(&config)?;
						let db = backend.expose_db();
						let storage = backend.expose_storage();
						let shared_trie_cache = backend.expose_shared_trie_cache();
						cmd.run(config, client, db, storage, shared_trie_cache)
					})
				}
				BenchmarkCmd::Overhead(cmd) => {
					let runner = cli.create_runner(cmd)?;
					runner.sync_run(|config| {
						let PartialComponents { client, .. } = service::new_partial(&config)?;
						let time_ms = benchmarking::block_time_ms()?;
						let remarks =
							benchmarking::RemarkBuilder { genesis: client.info().genesis_hash };
						cmd.run(
							config.chain_spec.name().into(),
							client,
							benchmarking::inherent_data(time_ms)?,
							benchmarking::digest_items(time_ms),
							&remarks,
							false,
						)
					})
				}
				BenchmarkCmd::Extrinsic(cmd) => {
					let runner = cli.create_runner(cmd)?;
					runner.sync_run(|config| {
						let PartialComponents { client, .. } = service::new_partial(&config)?;
						let time_ms = benchmarking::block_time_ms()?;
						let genesis = client.info().genesis_hash;
						let mut builders: Vec<Box<dyn frame_benchmarking_cli::ExtrinsicBuilder>> = vec![
							Box::new(benchmarking::RemarkBuilder { genesis }),
							Box::new(benchmarking::TransferBuilder { genesis }),
						];
						// Reports need benchmark devices; a chain without them lists the others.
						let reports = benchmarking::ReportBatchBuilder::new(
							&client,
							&*config.chain_spec,
							time_ms,
						);
						match reports {
							Ok(reports) => builders.push(Box::new(reports)),
							Err(error) if cmd.params.pallet.as_deref() == Some("telemetry") => {
								return Err(error)
							}
							Err(_) => {}
						}
						cmd.run(
							client,
							benchmarking::inherent_data(time_ms)?,
							benchmarking::digest_items(time_ms),
							&frame_benchmarking_cli::ExtrinsicFactory(builders),
						)
					})
				}
				BenchmarkCmd::Block(cmd) => {
					let runner = cli.create_runner(cmd)?;
					runner.sync_run(|config| {
						let PartialComponents { client, .. } = service::new_partial(&config)?;
						cmd.run(client)
					})
				}
				BenchmarkCmd::Machine(cmd) => {
					let runner = cli.create_runner(cmd)?;
					runner.sync_run(|config| {
						cmd.run(
							&config,
							frame_benchmarking_cli::SUBSTRATE_REFERENCE_HARDWARE.clone(),
						)
					})
				}
			}
		}
		None => {
			let runner = cli.create_runner(&cli.run)?;
			runner.run_node_until_exit(|config| async move {
				match config.network.network_backend {
					sc_network::config::NetworkBackendType::Libp2p => service::new_full::<
						sc_network::NetworkWorker<
							Block,
							<Block as sp_runtime::traits::Block>::Hash,
						>,
					>(config)
					.map_err(sc_cli::Error::Service),
					sc_network::config::NetworkBackendType::Litep2p => {
						service::new_full::<sc_network::Litep2pNetworkBackend>(config)
							.map_err(sc_cli::Error::Service)
					}
				}
			})
		}
	}
}
