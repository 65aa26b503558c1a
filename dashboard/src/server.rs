//! The HTTP server: GET and HEAD of the site's files on one address, until shutdown.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, header, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::watch};

use crate::site::Site;

fn respond(site: &Site, request: &Request<Incoming>) -> Response<Full<Bytes>> {
	let reply = site.reply(request.method().as_str(), request.uri().path());
	let body = if request.method() == hyper::Method::HEAD { Vec::new() } else { reply.body };
	let response = Response::builder()
		.status(reply.status)
		.header(header::CONTENT_TYPE, reply.content_type)
		// Live data: the page is small and always fetched fresh.
		.header(header::CACHE_CONTROL, "no-store")
		.header(header::CONTENT_SECURITY_POLICY, site.content_security_policy())
		.header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
		.body(Full::new(Bytes::from(body)));
	response.unwrap_or_else(|error| {
		tracing::error!(%error, "building a response");
		let mut fallback = Response::new(Full::new(Bytes::from_static(b"internal error\n")));
		*fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
		fallback
	})
}

/// Serves `site` on `listener` until `shutdown` turns true; connections being served finish.
pub async fn serve(
	listener: TcpListener,
	site: Site,
	mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
	let site = Arc::new(site);
	loop {
		let (stream, peer): (_, SocketAddr) = tokio::select! {
			accepted = listener.accept() => match accepted {
				Ok(accepted) => accepted,
				Err(error) => {
					// Out of file descriptors and the like: wait, do not spin.
					tracing::warn!(%error, "accepting a connection");
					tokio::time::sleep(std::time::Duration::from_millis(100)).await;
					continue;
				},
			},
			_ = shutdown.changed() => return Ok(()),
		};
		let site = site.clone();
		tokio::spawn(async move {
			let service = service_fn(move |request: Request<Incoming>| {
				let response = respond(&site, &request);
				tracing::debug!(method = %request.method(), path = request.uri().path(), status = %response.status(), "request");
				async move { Ok::<_, Infallible>(response) }
			});
			if let Err(error) =
				http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
			{
				tracing::debug!(%peer, %error, "connection ended with an error");
			}
		});
	}
}
