// One device: identity, status, capability, comfort limits, history, credit record, latest
// readings, and recent scores and rewards.

import { vpp, RpcError } from '../rpc.js';
import { badge, escape, figure, int, kindOf, kw, kwh, ovpp, percentBp, percentPpb, time } from '../format.js';

const NOT_FOUND = 4004;

function facts(pairs) {
  return `<dl class="facts">${pairs.map(([k, v]) => `<dt>${escape(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function text(value) { return escape(value === '' || value == null ? '—' : value); }

function key(attestationKey) {
  const [scheme, hex] = Object.entries(attestationKey)[0] ?? ['', ''];
  return `${escape(scheme)} <code>${escape(hex)}</code>`;
}

function windows(comfort) {
  if (!comfort.dispatchWindows?.length) return 'any time';
  const hhmm = (m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return comfort.dispatchWindows.map((w) => `${hhmm(w.startMinute)}–${hhmm(w.endMinute)}`).join(', ') + ' UTC';
}

export async function render({ args, at }) {
  const id = Number(args[0]);
  if (!Number.isInteger(id) || id < 1) return `<h1>Device</h1><p class="error">'${escape(args[0])}' is not a device id.</p>`;
  let d;
  try {
    d = await vpp.device(id, at.hash);
  } catch (error) {
    if (error instanceof RpcError && error.code === NOT_FOUND) return `<h1>Device #${id}</h1><p class="error">${escape(error.message)}</p>`;
    throw error;
  }
  const [telemetry, results] = await Promise.all([
    vpp.deviceTelemetry(id, at.hash).catch((error) => (error instanceof RpcError && error.code === NOT_FOUND ? null : Promise.reject(error))),
    vpp.deviceResults(id, 10, at.hash),
  ]);
  const c = d.capability, h = d.history, m = d.metadata;
  const latest = telemetry?.latest;
  return `<h1 data-device="${d.id}">Device #${d.id} — ${escape(kindOf(d.kind))} ${badge(d.status)}</h1>
  <div class="grid2">
    <div class="panel"><h2>Identity</h2>${facts([
      ['Owner', `<code>${escape(d.owner)}</code>`],
      ['Gateway', `<code>${escape(d.gateway)}</code>`],
      ['Region', `<a href="#/regions/${encodeURIComponent(d.region)}">${escape(d.region)}</a>`],
      ['Hardware', `${text(m.manufacturer)} ${text(m.model)}, serial ${text(m.serialNumber)}, firmware ${text(m.firmwareVersion)}`],
      ['Attestation key', key(d.attestationKey)],
      ['Registered', escape(time(d.registeredAt))],
      ['Activated', escape(time(d.activatedAt))],
      ['Status reason', text(d.statusReason)],
      ['Behind site meter', d.siteMeter ? `<a href="#/device/${d.siteMeter}">#${d.siteMeter}</a>` : '—'],
      ['Deposit', `${ovpp(d.depositPlanck)} OVPP`],
    ])}</div>
    <div class="panel"><h2>Capability and comfort</h2>${facts([
      ['Rated power', `${figure('capability.ratedPowerW', c.ratedPowerW, kw(c.ratedPowerW))} kW`],
      ['Storage capacity', c.storageCapacityWh == null ? '—' : `${kwh(c.storageCapacityWh)} kWh`],
      ['Max charge', c.maxChargeW == null ? '—' : `${kw(c.maxChargeW)} kW`],
      ['Max discharge', c.maxDischargeW == null ? '—' : `${kw(c.maxDischargeW)} kW`],
      ['Reserve kept', percentBp(d.comfort.minReserveSocBp)],
      ['May be dispatched', escape(windows(d.comfort))],
    ])}</div>
  </div>
  <div class="grid2">
    <div class="panel"><h2>Latest reading</h2>${latest ? facts([
      ['Interval', `${escape(time(latest.intervalStart))}, ${int(latest.intervalLengthS)} s`],
      ['Average power', `${figure('latest.averagePowerW', latest.averagePowerW, kw(latest.averagePowerW))} kW <span class="muted">(positive = to the grid)</span>`],
      ['Peak power', `${kw(latest.peakPowerW)} kW`],
      ['State of charge', latest.socBp == null ? '—' : percentBp(latest.socBp)],
      ['Device state', escape(latest.deviceState)],
      ['Grid response', escape(latest.gridResponse)],
      ['Meter counters', `imported ${int(latest.cumulativeImportedWh)} Wh, exported ${int(latest.cumulativeExportedWh)} Wh`],
      ['Plausibility', latest.plausibilityFlags === 0 ? 'plausible' : `<span class="error">flags 0x${latest.plausibilityFlags.toString(16)}</span>`],
      ['Online now', telemetry.live ? 'yes' : 'no (no fresh reading)'],
    ]) : '<p class="muted">No accepted report yet.</p>'}
    ${telemetry ? `<h2>Epoch ${int(telemetry.epoch.epoch)} so far</h2>${facts([
      ['Produced / exported', `${int(telemetry.epoch.producedWh)} / ${int(telemetry.epoch.exportedWh)} Wh`],
      ['Consumed', `${int(telemetry.epoch.consumedWh)} Wh`],
      ['Charged / discharged', `${int(telemetry.epoch.chargedWh)} / ${int(telemetry.epoch.dischargedWh)} Wh`],
      ['Online', `${int(telemetry.epoch.onlineS)} s`],
      ['Reports', `${int(telemetry.epoch.accepted)} accepted, ${int(telemetry.epoch.flagged)} flagged, ${int(telemetry.epoch.rejected)} rejected`],
    ])}` : ''}</div>
    <div class="panel"><h2>History</h2>${facts([
      ['Energy produced', `${int(h.energyProducedWh)} Wh`],
      ['Energy consumed', `${int(h.energyConsumedWh)} Wh`],
      ['Charged / discharged', `${int(h.energyChargedWh)} / ${int(h.energyDischargedWh)} Wh`],
      ['Online', `${int(h.onlineS)} s`],
      ['Reports', `${figure('history.reportsAccepted', h.reportsAccepted, int(h.reportsAccepted))} accepted, ${int(h.reportsFlagged)} flagged, ${int(h.reportsRejected)} rejected of ${int(h.reportsExpected)} expected`],
      ['Demand response', `${int(h.drEventsJoined)} events joined, ${int(h.drEventsDelivered)} delivered`],
      ['Epochs rewarded', int(h.epochsRewarded)],
    ])}
    <h2>Credit record</h2>${facts([['Reputation', figure('credit.reputationBp', d.credit.reputationBp, percentBp(d.credit.reputationBp))]])}
    <table><thead><tr><th>When</th><th>Reason</th><th class="num">Change</th><th class="num">Score</th></tr></thead><tbody>
    ${d.credit.recentChanges.slice().reverse().map((r) => `<tr><td>${escape(time(r.at))}</td><td>${escape(r.reason)}</td><td class="num">${r.deltaBp > 0 ? '+' : ''}${percentBp(r.deltaBp)}</td><td class="num">${percentBp(r.scoreBp)}</td></tr>`).join('') || '<tr><td colspan="4" class="muted">No change yet.</td></tr>'}
    </tbody></table></div>
  </div>
  <div class="panel"><h2>Recent scores and rewards</h2>
  <table><thead><tr><th>Epoch</th><th class="num">Data quality</th><th class="num">Generation Wh</th><th class="num">Storage Wh</th><th class="num">Grid stability Wh</th><th class="num">Participation Wh</th><th class="num">Online Wh</th><th class="num">Reward OVPP</th><th>Paid</th></tr></thead><tbody>
  ${results.map((r) => `<tr data-epoch="${r.epoch}"><td>${int(r.epoch)}</td><td class="num">${percentPpb(r.dataQualityPpb)}</td>
    <td class="num">${int(r.scores.generationWh)}</td><td class="num">${int(r.scores.storageWh)}</td><td class="num">${int(r.scores.gridStabilityWh)}</td>
    <td class="num">${int(r.scores.participationWh)}</td><td class="num">${int(r.scores.onlineWh)}</td>
    <td class="num">${figure(`reward.${r.epoch}`, r.rewardPlanck, ovpp(r.rewardPlanck))}</td><td>${r.paidAtBlock == null ? 'not yet' : `block #${int(r.paidAtBlock)}`}</td></tr>`).join('') || '<tr><td colspan="9" class="muted">Not scored yet: a device is scored once an epoch it reported in has closed.</td></tr>'}
  </tbody></table></div>`;
}
