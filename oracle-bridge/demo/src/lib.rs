//! # OpenVPP demonstration tool
//!
//! What `scripts/run-dev.sh` and the end-to-end tests do on a development chain besides running
//! the node, the simulator and the bridge: write the bridge configuration and keystore for the
//! simulated demo fleet (`openvpp-demo config`, from [`openvpp_sim::demo`]), register the larger
//! simulated fleet and consent for it ([`fleet`]), and run a demand-response event the way its
//! people would ([`event`]). It signs with the dev accounts' public keys and for the runtime it
//! was built with: development chains only, never a gateway's job.

pub mod event;
pub mod fleet;
