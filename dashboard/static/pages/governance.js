// Governance: the referenda being decided and their tallies.

import { vpp } from '../rpc.js';
import { bar, escape, figure, int, ovpp, percentPpb } from '../format.js';

function stage(r) {
  if (r.confirmingUntilBlock != null) return `confirming until #${int(r.confirmingUntilBlock)}`;
  if (r.decidingSinceBlock != null) return `deciding since #${int(r.decidingSinceBlock)}`;
  return 'preparing';
}

export async function render({ at }) {
  const referenda = await vpp.referenda(100, at.hash);
  return `<h1>Governance</h1>
  <div class="panel"><h2>Open referenda</h2><table><thead><tr><th>Referendum</th><th>Track</th><th>Stage</th><th>Submitted</th><th class="num">Aye OVPP</th><th class="num">Nay OVPP</th><th>Approval</th><th>Support</th></tr></thead><tbody>
  ${referenda.map((r) => `<tr data-referendum="${r.index}"><td>#${int(r.index)}</td><td>${escape(r.trackName)} <span class="muted">(${r.track})</span></td><td>${escape(stage(r))}</td><td>#${int(r.submittedBlock)}</td>
    <td class="num">${figure(`referendum.${r.index}.ayesPlanck`, r.ayesPlanck, ovpp(r.ayesPlanck))}</td><td class="num">${figure(`referendum.${r.index}.naysPlanck`, r.naysPlanck, ovpp(r.naysPlanck))}</td>
    <td>${bar(r.approvalPpb / 1e9)} ${percentPpb(r.approvalPpb)}</td><td>${bar(r.supportPpb / 1e9)} ${percentPpb(r.supportPpb)}</td></tr>`).join('') || '<tr><td colspan="8" class="muted">No referendum is open.</td></tr>'}
  </tbody></table></div>
  <p class="muted">Votes are conviction-weighted; support is aye votes without conviction as a share of the total issuance. OVPP holders vote in polkadot.js Apps (docs/governance.md).</p>`;
}
