// Demand response: events upcoming, live and settled; an event's target against what the chain
// measured, interval by interval, and its participants with their payments.

import { vpp, atBlocks } from '../rpc.js';
import { badge, duration, escape, figure, int, kindName, kw, ovpp, percentBp, time } from '../format.js';
import { barChart, lineChart } from '../charts.js';

const GROUPS = [
  ['Live', ['Active']],
  ['Upcoming', ['Scheduled']],
  ['Ended, being measured', ['Completed']],
  ['Settled', ['Settled']],
  ['Cancelled', ['Cancelled']],
];

function eventRow(e, now) {
  const when = now < e.start ? `starts in ${duration(e.start - now)}` : now < e.end ? `${duration(now - e.start)} of ${duration(e.end - e.start)}` : `ended ${duration(now - e.end)} ago`;
  return `<tr data-event="${e.id}"><td><a href="#/events/${e.id}">#${e.id}</a></td><td>${escape(e.kind)}</td><td>${badge(e.status)}</td>
    <td>${escape(e.regions.join(', '))}</td><td>${escape(time(e.start))}</td><td>${escape(when)}</td>
    <td class="num">${figure(`event.${e.id}.targetPowerW`, e.targetPowerW, kw(e.targetPowerW))}</td>
    <td class="num">${int(e.joinedDevices)} / ${int(e.selectedDevices)}</td><td class="num">${kw(e.selectedW)}</td>
    <td class="num">${figure(`event.${e.id}.measuredDeliveryWh`, e.measuredDeliveryWh, int(e.measuredDeliveryWh))}</td>
    <td class="num">${ovpp(e.paidPlanck)} / ${ovpp(e.escrowPlanck)}</td></tr>`;
}

async function list(at) {
  const [page, totals] = await Promise.all([vpp.drEvents(null, null, null, 100, at.hash), vpp.networkTotals(at.hash)]);
  const now = totals.now;
  const head = '<tr><th>Event</th><th>Kind</th><th>Status</th><th>Regions</th><th>Start</th><th>When</th><th class="num">Target kW</th><th class="num">Joined / selected</th><th class="num">Committed kW</th><th class="num">Measured Wh</th><th class="num">Paid / escrow OVPP</th></tr>';
  const sections = GROUPS.map(([title, statuses]) => {
    const events = page.events.filter((e) => statuses.includes(e.status));
    if (events.length === 0 && title !== 'Live' && title !== 'Upcoming') return '';
    return `<div class="panel" data-group="${escape(title)}"><h2>${escape(title)}</h2><table><thead>${head}</thead><tbody>${events.map((e) => eventRow(e, now)).join('') || `<tr><td colspan="11" class="muted">None.</td></tr>`}</tbody></table></div>`;
  }).join('');
  return `<h1>Demand response</h1>${sections}<p class="muted">The newest 100 events. Measured delivery is what the chain has measured against each participant's baseline so far.</p>`;
}

const samples = new Map();

function baselineName(baseline) {
  if (baseline == null) return '—';
  return typeof baseline === 'string' ? baseline : Object.keys(baseline)[0];
}

async function detail(id, at) {
  const first = await vpp.drEvent(id, null, 100, at.hash);
  const e = first.event;
  const participants = [...first.participants];
  let next = first.next;
  for (let pages = 0; next != null && pages < 9; pages++) {
    const more = await vpp.drEvent(id, next, 100, at.hash);
    participants.push(...more.participants);
    next = more.next;
  }
  const now = first.now;
  // The event as the chain saw it at past blocks, to chart what it measured over time.
  const blockTimeS = 6;
  const from = Math.max(1, at.number - Math.ceil((now - e.start + e.intervalLengthS) / blockTimeS));
  const step = Math.max(1, Math.floor((at.number - from) / 60));
  const numbers = [at.number];
  if (now > e.start) for (let n = Math.floor((at.number - 1) / step) * step; n >= from; n -= step) numbers.unshift(n);
  const cache = samples.get(id) ?? new Map();
  samples.set(id, cache);
  // One participant per sample is enough: the event's totals are what is charted.
  const history = await atBlocks(numbers, (hash) => ['vpp_drEvent', [id, null, 1, hash]], cache);
  const seen = history.filter((h) => h.now >= e.start);
  const target = (t) => (e.selectedW * Math.max(0, Math.min(t, e.end) - e.start)) / 3600;
  const cumulative = lineChart([
    { name: 'Committed to date (Wh)', color: '#868e96', points: seen.map((h) => [h.now, target(h.now)]) },
    { name: 'Measured by the chain (Wh)', color: '#2f9e44', points: seen.map((h) => [h.now, h.event.measuredDeliveryWh]) },
  ], { yFormat: (v) => v.toFixed(0), unit: 'Wh', label: 'committed against measured' });
  // Per interval: the target and what the chain recorded while that interval was the latest
  // one ended (readings arrive after their interval, so delivery shows one interval late).
  const intervals = [];
  for (let start = e.start; start < e.end && start < now; start += e.intervalLengthS) {
    const end = start + e.intervalLengthS;
    const before = seen.filter((h) => h.now <= start).at(-1)?.event.measuredDeliveryWh ?? 0;
    const after = seen.filter((h) => h.now <= end).at(-1)?.event.measuredDeliveryWh ?? before;
    intervals.push({ label: new Date(start * 1000).toISOString().slice(11, 16), values: [(e.selectedW * e.intervalLengthS) / 3600, Math.max(0, after - before)] });
  }
  const perInterval = barChart(intervals, [{ name: 'Committed per interval (Wh)', color: '#868e96' }, { name: 'Measured in that interval of chain time (Wh)', color: '#2f9e44' }], { yFormat: (v) => v.toFixed(0), unit: 'Wh', label: 'per interval' });
  const facts = [
    ['Status', badge(e.status)], ['Kind', escape(e.kind)], ['Operator', `<code>${escape(e.operator)}</code>`],
    ['Regions', escape(e.regions.join(', '))], ['Eligible kinds', escape(e.eligibleKinds.map(kindName).join(', '))],
    ['Opt-in deadline', escape(time(e.optInDeadline))], ['Runs', `${escape(time(e.start))} – ${escape(time(e.end))}, intervals of ${duration(e.intervalLengthS)}`],
    ['Target', `${figure('targetPowerW', e.targetPowerW, kw(e.targetPowerW))} kW`], ['Selected', `${figure('selectedDevices', e.selectedDevices, int(e.selectedDevices))} devices, ${kw(e.selectedW)} kW committed`],
    ['Measured so far', `${figure('measuredDeliveryWh', e.measuredDeliveryWh, int(e.measuredDeliveryWh))} Wh`],
    ['Price', `${ovpp(e.pricePerKwhPlanck)} OVPP per kWh`], ['Paid / escrow', `${ovpp(e.paidPlanck)} / ${ovpp(e.escrowPlanck)} OVPP`],
  ];
  return `<h1 data-event="${e.id}">Event #${e.id} ${badge(e.status)}</h1><p><a href="#/events">All events</a></p>
  <div class="grid2"><div class="panel"><dl class="facts">${facts.map(([k, v]) => `<dt>${escape(k)}</dt><dd>${v}</dd>`).join('')}</dl></div>
  <div class="panel"><h2>Committed against measured</h2>${now < e.start ? `<p class="muted">Starts in ${duration(e.start - now)}.</p>` : cumulative}</div></div>
  <div class="panel"><h2>Per interval</h2>${now < e.start ? '<p class="muted">Not started.</p>' : perInterval}</div>
  <div class="panel"><h2>Participants (${int(participants.length)})</h2>
  <table><thead><tr><th>Device</th><th>Joined by</th><th>Selected</th><th class="num">Committed kW</th><th>Baseline</th><th class="num">Delivered Wh</th><th class="num">Responding / overridden / idle / flagged</th><th class="num">Performance</th><th class="num">Paid OVPP</th></tr></thead><tbody>
  ${participants.map((p) => `<tr data-participant="${p.device}"><td><a href="#/device/${p.device}">#${p.device}</a></td><td>${escape(p.joinedBy)}</td><td>${p.selected ? 'yes' : 'no'}</td>
    <td class="num">${kw(p.committedW)}</td><td>${escape(baselineName(p.baseline))}</td>
    <td class="num">${figure(`participant.${p.device}.deliveredWh`, p.deliveredWh, int(p.deliveredWh))}</td>
    <td class="num">${p.respondingIntervals} / ${p.overriddenIntervals} / ${p.idleIntervals} / ${p.flaggedIntervals}</td>
    <td class="num">${p.performanceBp == null ? '—' : percentBp(p.performanceBp)}</td><td class="num">${p.paidPlanck == null ? '—' : ovpp(p.paidPlanck)}</td></tr>`).join('') || '<tr><td colspan="9" class="muted">No device has joined yet.</td></tr>'}
  </tbody></table></div>`;
}

export async function render({ args, at }) {
  if (args[0] != null) {
    const id = Number(args[0]);
    if (!Number.isInteger(id) || id < 1) return `<h1>Event</h1><p class="error">'${escape(args[0])}' is not an event id.</p>`;
    return detail(id, at);
  }
  return list(at);
}
