//! The shapes the gateway was written for.
//!
//! `runtime-shapes.json` records, for every item in [`super::items`], its shape in the runtime
//! of this source tree, as [`super::items::shapes`] computes it from the runtime's metadata.
//! The gateway's codec types ([`crate::wire`]) are written for exactly these shapes. A test
//! that links the runtime fails when the file no longer matches it, so a runtime change that
//! touches what the gateway uses cannot go unnoticed; running it with
//! `OPENVPP_RECORD_SHAPES=1` rewrites the file, after which the `wire` types must follow.

use std::{collections::BTreeMap, sync::OnceLock};

use super::items::{self, Item, Parts, Shape};

/// The recorded shapes, as built into the gateway.
pub const RECORDED: &str = include_str!("runtime-shapes.json");

/// The shape of every item the gateway knows.
pub fn expected() -> &'static BTreeMap<Item, Shape> {
	static SHAPES: OnceLock<BTreeMap<Item, Shape>> = OnceLock::new();
	SHAPES.get_or_init(|| parse(RECORDED))
}

/// Reads a shapes document: every item of [`items::all`], with its parts or why it has none.
pub fn parse(text: &str) -> BTreeMap<Item, Shape> {
	let recorded: Result<BTreeMap<String, Parts>, String> =
		serde_json::from_str(text).map_err(|e| format!("the recorded shapes are unreadable: {e}"));
	items::all()
		.map(|item| {
			let shape = match &recorded {
				Ok(shapes) => shapes
					.get(&item.to_string())
					.cloned()
					.ok_or_else(|| "not among the recorded shapes".to_string()),
				Err(why) => Err(why.clone()),
			};
			(item, shape)
		})
		.collect()
}

/// Writes shapes as the document [`parse`] reads (items without a shape are left out).
pub fn render(shapes: &BTreeMap<Item, Shape>) -> String {
	let document: BTreeMap<String, &Parts> = shapes
		.iter()
		.filter_map(|(item, shape)| Some((item.to_string(), shape.as_ref().ok()?)))
		.collect();
	let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
	text.push('\n');
	text
}
