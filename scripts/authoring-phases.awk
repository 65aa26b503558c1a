# Splits each block build in validator logs into its phases, from the lines the node writes with
# `-l aura=debug,basic-authorship=debug` (scripts/bench-scale.sh passes them):
#
#   slot start  "Starting authorship at slot"            (aura)
#   pool        "Attempting to push transactions"        (basic-authorship: inherents applied and
#               the pool's ready set for the parent obtained, waiting for it at most 1/8 of the
#               time left)
#   push        "No more transactions" / "... deadline reached" / "Reached block ... limit"
#   seal        "Prepared block for proposing at N"      (block finalized, storage root computed)
#   kept        "Pre-sealed block" (the slot worker kept it: it came within the slot's time)
#
# It also counts, over all its input, the builds the slot worker discarded for overrunning their
# slot ("Discarding proposal"; such a build still logs its "Prepared block" line) and the reorgs.
#
# Input: one or more logs, each preceded by a line "==> NAME <==" (as `tail` prints them).
# Variables: from, to (the block heights to count).
#
#   awk -v from=F -v to=T -f scripts/authoring-phases.awk
function ms_of(line,   t, hms) {
	# "2026-12-03 18:00:00.123 ..." -> milliseconds of the day.
	split(line, t, " ")
	split(t[2], hms, /[:.]/)
	return ((hms[1] * 60 + hms[2]) * 60 + hms[3]) * 1000 + hms[4]
}
function sort_numeric(a, n,   i, j, v) {
	for (i = 2; i <= n; i++) {
		v = a[i]
		for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
		a[j + 1] = v
	}
}
# "median / p90 / max" of the n values in a, in whole milliseconds.
function summary(a, n) {
	if (n == 0) return "none"
	sort_numeric(a, n)
	return sprintf("%d / %d / %d ms", a[int((n + 1) / 2)], a[int((n * 9 + 9) / 10)], a[n])
}
/^==> .* <==$/ { started = pushing = ended = -1; next }
/Discarding proposal for slot/ { discarded++; next }
/Reorg on/ { reorgs++; next }
/Starting authorship at slot/ { started = ms_of($0); pushing = ended = -1; next }
/Attempting to push transactions from the pool/ { pushing = ms_of($0); next }
/No more transactions, proceeding|deadline reached when pushing|Reached block (weight|size) limit, proceeding/ {
	ended = ms_of($0); next
}
/Prepared block for proposing at/ {
	for (i = 1; i <= NF; i++) if ($i == "at") height = $(i + 1) + 0
	if (height < from || height > to || started < 0 || pushing < 0 || ended < 0) next
	sealed = ms_of($0)
	# A build that spans midnight is left out rather than mismeasured.
	if (sealed < started) next
	builds++
	pool[builds] = pushing - started
	push[builds] = ended - pushing
	seal[builds] = sealed - ended
	total[builds] = sealed - started
	# Blocks with only the timestamp inherent (between bursts of readings) are counted apart.
	for (i = 1; i <= NF; i++) if ($i == "extrinsics_count:") count = $(i + 1) + 0
	if (count > 1) {
		loaded++
		loaded_pool[loaded] = pool[builds]
		loaded_push[loaded] = push[builds]
		loaded_seal[loaded] = seal[builds]
		loaded_total[loaded] = total[builds]
	}
	started = -1
	next
}
/Pre-sealed block for proposal at/ { for (i = 1; i <= NF; i++) if ($i == "at") h = $(i + 1) + 0; if (h >= from && h <= to) kept++; next }
function phases(title, n, p, u, e, t) {
	printf "author phases, %s (median / p90 / max):\n", title
	printf "  slot start to the pool's transactions (inherents, waiting for the pool): %s\n", summary(p, n)
	printf "  pushing transactions: %s\n", summary(u, n)
	printf "  finishing the block (finalize_block, storage root): %s\n", summary(e, n)
	printf "  the whole build: %s\n", summary(t, n)
}
END {
	printf "author: from the live phase's start, %d builds discarded for overrunning their slot, %d reorgs in the validators' logs (each validator logs its own)\n", discarded, reorgs
	phases(sprintf("all %d block builds for heights %d-%d, %d of them kept", builds, from, to, kept), builds, pool, push, seal, total)
	phases(sprintf("the %d builds of blocks with transactions", loaded), loaded, loaded_pool, loaded_push, loaded_seal, loaded_total)
}
