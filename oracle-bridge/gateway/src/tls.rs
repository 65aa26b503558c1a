//! TLS client set-ups from PEM files, for the MQTT broker and the node's `wss://` endpoint.
//!
//! The server's certificate is checked against the CA certificates in one PEM file (a private
//! broker's or node's CA, or a public one). For brokers that authenticate clients by
//! certificate, the bridge's own certificate chain and private key come from two more PEM
//! files; the key file must be as private as the keystore (no access for group or others).
//! Nothing read from these files is ever logged.

use std::{path::Path, sync::Arc};

use rustls::{
	pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
	ClientConfig, RootCertStore,
};

use crate::keystore::{check_permissions, KeystoreError};

/// A TLS set-up that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
	#[error("cannot read certificates from {path}: {message}")]
	Certificates { path: String, message: String },
	#[error("{path} holds no certificate")]
	NoCertificate { path: String },
	#[error("cannot read the private key in {path}: {message}")]
	Key { path: String, message: String },
	#[error(transparent)]
	KeyFile(#[from] KeystoreError),
	#[error("the TLS set-up is not usable: {0}")]
	Setup(String),
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
	let shown = path.display().to_string();
	let iter = CertificateDer::pem_file_iter(path)
		.map_err(|e| TlsError::Certificates { path: shown.clone(), message: e.to_string() })?;
	let certificates = iter
		.collect::<Result<Vec<_>, _>>()
		.map_err(|e| TlsError::Certificates { path: shown.clone(), message: e.to_string() })?;
	if certificates.is_empty() {
		return Err(TlsError::NoCertificate { path: shown });
	}
	Ok(certificates)
}

/// A client configuration that trusts the CA certificates in `ca_file` and, if given, presents
/// the certificate chain in `client_auth.0` with the private key in `client_auth.1`.
pub fn client_config(
	ca_file: &Path,
	client_auth: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
	let mut roots = RootCertStore::empty();
	for certificate in certificates(ca_file)? {
		roots.add(certificate).map_err(|e| TlsError::Certificates {
			path: ca_file.display().to_string(),
			message: e.to_string(),
		})?;
	}
	let builder =
		ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
			.with_safe_default_protocol_versions()
			.map_err(|e| TlsError::Setup(e.to_string()))?
			.with_root_certificates(roots);
	let config = match client_auth {
		None => builder.with_no_client_auth(),
		Some((cert_file, key_file)) => {
			check_permissions(key_file)?;
			let chain = certificates(cert_file)?;
			// The key's own error text could quote key material: only its kind is reported.
			let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::Key {
				path: key_file.display().to_string(),
				message: pem_error_kind(&e).to_string(),
			})?;
			builder.with_client_auth_cert(chain, key).map_err(|e| TlsError::Setup(e.to_string()))?
		}
	};
	Ok(Arc::new(config))
}

fn pem_error_kind(error: &rustls::pki_types::pem::Error) -> &'static str {
	use rustls::pki_types::pem::Error::*;
	match error {
		NoItemsFound => "no private key found",
		Io(_) => "the file cannot be read",
		_ => "the file is not a PEM private key",
	}
}
