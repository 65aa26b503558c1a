// Rewards: the latest epoch, top contributors, settlement progress and the retained epochs.

import { vpp } from '../rpc.js';
import { bar, escape, figure, int, ovpp, percentPpb, time } from '../format.js';

const RESULT_PAGES = 10;

async function allResults(epoch, at) {
  const results = [];
  let after = null;
  for (let page = 0; page < RESULT_PAGES; page++) {
    const answer = await vpp.epochResults(epoch, after, 100, at.hash);
    results.push(...answer.results);
    if (answer.next == null) return { results, complete: true };
    after = answer.next;
  }
  return { results, complete: false };
}

export async function render({ at }) {
  const status = await vpp.rewardsStatus(at.hash);
  const latestEpoch = status.payingEpoch ?? (status.nextToSettle != null ? status.nextToSettle - 1 : null);
  const latest = status.recentEpochs.find((s) => s.epoch === latestEpoch) ?? status.recentEpochs[0];
  let top = '';
  if (latest) {
    const { results, complete } = await allResults(latest.epoch, at);
    results.sort((a, b) => (BigInt(b.rewardPlanck) > BigInt(a.rewardPlanck) ? 1 : BigInt(b.rewardPlanck) < BigInt(a.rewardPlanck) ? -1 : a.device - b.device));
    top = `<div class="panel"><h2>Top contributors, epoch ${int(latest.epoch)}</h2>
    <table><thead><tr><th>Device</th><th>Owner</th><th class="num">Data quality</th><th class="num">Generation Wh</th><th class="num">Storage Wh</th><th class="num">Grid stability Wh</th><th class="num">Online Wh</th><th class="num">Reward OVPP</th><th>Paid</th></tr></thead><tbody>
    ${results.slice(0, 10).map((r) => `<tr data-device="${r.device}"><td><a href="#/device/${r.device}">#${r.device}</a></td><td><code>${escape(r.owner)}</code></td>
      <td class="num">${percentPpb(r.dataQualityPpb)}</td><td class="num">${int(r.scores.generationWh)}</td><td class="num">${int(r.scores.storageWh)}</td>
      <td class="num">${int(r.scores.gridStabilityWh)}</td><td class="num">${int(r.scores.onlineWh)}</td>
      <td class="num">${figure(`top.${r.device}.rewardPlanck`, r.rewardPlanck, ovpp(r.rewardPlanck))}</td><td>${r.paidAtBlock == null ? 'not yet' : `#${int(r.paidAtBlock)}`}</td></tr>`).join('') || '<tr><td colspan="9" class="muted">No device scored in this epoch.</td></tr>'}
    </tbody></table>${complete ? '' : `<p class="muted">Ranked among the first ${int(results.length)} results.</p>`}</div>`;
  }
  const progress = latest ? latest.devicesPaid / Math.max(1, latest.devicesScored) : 0;
  return `<h1>Rewards</h1>
  <div class="cards">
    <div class="card"><div class="label">Current epoch</div><div class="value">${figure('currentEpoch', status.currentEpoch, int(status.currentEpoch))}</div><div class="label">${int(status.epochLengthS / 60)} min epochs, now ${escape(time(status.now))}</div></div>
    <div class="card"><div class="label">Next epoch to settle</div><div class="value">${status.nextToSettle == null ? '—' : int(status.nextToSettle)}</div></div>
    <div class="card"><div class="label">Paid in retained epochs</div><div class="value">${figure('paidInRetainedEpochsPlanck', status.paidInRetainedEpochsPlanck, ovpp(status.paidInRetainedEpochsPlanck))}<span class="unit">OVPP</span></div></div>
    <div class="card"><div class="label">Reward pot</div><div class="value">${ovpp(status.potFreeBalancePlanck)}<span class="unit">OVPP</span></div></div>
  </div>
  ${latest ? `<div class="panel" data-epoch="${latest.epoch}"><h2>Epoch ${int(latest.epoch)}: ${latest.settled ? 'paid' : 'paying'}</h2>
    <dl class="facts"><dt>Pool</dt><dd>${figure('latest.poolPlanck', latest.poolPlanck, ovpp(latest.poolPlanck))} OVPP (${ovpp(latest.emittedPlanck)} newly emitted)</dd>
    <dt>Treasury</dt><dd>${ovpp(latest.toTreasuryPlanck)} OVPP</dd><dt>Paid</dt><dd>${ovpp(latest.paidPlanck)} OVPP</dd><dt>Carried to the next epoch</dt><dd>${ovpp(latest.carriedPlanck)} OVPP</dd>
    <dt>Settlement</dt><dd>${bar(progress)} ${figure('latest.devicesPaid', latest.devicesPaid, int(latest.devicesPaid))} of ${int(latest.devicesScored)} devices paid${status.payingEpoch != null ? `, next after device #${status.paidThroughDevice ?? '—'}` : ''}</dd></dl></div>` : '<div class="panel"><p class="muted">No epoch has been scored yet: the first is scored once it has ended and its grace period has passed.</p></div>'}
  ${top}
  <div class="panel"><h2>Retained epochs</h2><table><thead><tr><th>Epoch</th><th class="num">Emitted</th><th class="num">Pool</th><th class="num">Treasury</th><th class="num">Paid</th><th class="num">Carried</th><th class="num">Devices paid / scored</th><th>Settled</th></tr></thead><tbody>
  ${status.recentEpochs.map((s) => `<tr data-epoch="${s.epoch}"><td>${int(s.epoch)}</td><td class="num">${ovpp(s.emittedPlanck)}</td><td class="num">${ovpp(s.poolPlanck)}</td><td class="num">${ovpp(s.toTreasuryPlanck)}</td><td class="num">${ovpp(s.paidPlanck)}</td><td class="num">${ovpp(s.carriedPlanck)}</td><td class="num">${int(s.devicesPaid)} / ${int(s.devicesScored)}</td><td>${s.settled ? 'yes' : 'no'}</td></tr>`).join('') || '<tr><td colspan="8" class="muted">None yet.</td></tr>'}
  </tbody></table><p class="muted">Amounts in OVPP.</p></div>`;
}
