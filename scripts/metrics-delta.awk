# What a validator's Prometheus histograms gained between two scrapes of its /metrics: the
# number and mean of block builds, block imports and transaction-pool maintenance runs.
#
#   awk -f scripts/metrics-delta.awk BEFORE AFTER
function name_of(series,   parts) {
	split(series, parts, "{")
	return parts[1]
}
/^#/ { next }
FNR == NR { before[name_of($1)] += $2; next }
{ after[name_of($1)] += $2 }
function line(label, metric,   count, total) {
	count = after[metric "_count"] - before[metric "_count"]
	total = after[metric "_sum"] - before[metric "_sum"]
	if (count <= 0) return sprintf("%s none", label)
	return sprintf("%s %d × %.0f ms (%.1f s in all)", label, count, total / count * 1000, total)
}
END {
	printf "%s; %s; %s; %s\n",
		line("block builds", "substrate_proposer_block_constructed"),
		line("whole proposals", "substrate_proposer_block_proposal_time"),
		line("block imports", "substrate_block_verification_and_import_time"),
		line("pool maintenance", "substrate_sub_txpool_maintain_duration_seconds")
}
