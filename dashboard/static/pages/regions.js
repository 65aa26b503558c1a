// Regions: the energy status map per region (its kinds below), and a region's devices.

import { vpp } from '../rpc.js';
import { badge, escape, figure, int, kindName, kindOf, kw, kwh } from '../format.js';

function sum(entries, pick) { return entries.reduce((total, e) => total + Number(pick(e)), 0); }

function row(name, entries, cls, link) {
  const live = (key) => sum(entries, (e) => e.live[key]);
  const label = link ? `<a href="${escape(link)}">${escape(name)}</a>` : escape(name);
  return `<tr class="${cls}"><td>${label}</td>
    <td class="num">${int(sum(entries, (e) => e.activeDevices))}</td>
    <td class="num">${figure(`${name}.live.devices`, live('devices'), int(live('devices')))}</td>
    <td class="num">${kw(sum(entries, (e) => e.ratedPowerW))}</td>
    <td class="num">${figure(`${name}.live.generationW`, live('generationW'), kw(live('generationW')))}</td>
    <td class="num">${figure(`${name}.live.consumptionW`, live('consumptionW'), kw(live('consumptionW')))}</td>
    <td class="num">${kwh(live('storageAvailableWh'))}</td>
    <td class="num">${kw(live('flexUpW'))}</td><td class="num">${kw(live('flexDownW'))}</td></tr>`;
}

async function regionDevices(region, at) {
  const page = await vpp.devicesByRegion(region, null, 100, at.hash);
  return `<h1>Region ${escape(region)}</h1><p><a href="#/regions">All regions</a></p>
  <div class="panel"><table><thead><tr><th>Device</th><th>Kind</th><th>Status</th><th class="num">Rated kW</th><th class="num">Storage kWh</th><th>Last seen</th><th class="num">Reputation</th></tr></thead><tbody>
  ${page.devices.map((d) => `<tr data-device="${d.id}"><td><a href="#/device/${d.id}">#${d.id}</a></td><td>${escape(kindOf(d.kind))}</td><td>${badge(d.status)}</td>
    <td class="num">${kw(d.capability.ratedPowerW)}</td><td class="num">${d.capability.storageCapacityWh == null ? '—' : kwh(d.capability.storageCapacityWh)}</td>
    <td>${d.lastSeen ? new Date(d.lastSeen * 1000).toISOString().slice(0, 19).replace('T', ' ') : '—'}</td><td class="num">${(d.credit.reputationBp / 100).toFixed(1)} %</td></tr>`).join('') || '<tr><td colspan="7" class="muted">No device registered in this region.</td></tr>'}
  </tbody></table>${page.next != null ? '<p class="muted">The first 100 devices are shown; the RPC pages through the rest (<code>vpp_devicesByRegion</code> with <code>after</code>).</p>' : ''}</div>`;
}

export async function render({ args, at }) {
  if (args[0]) return regionDevices(args[0], at);
  const status = await vpp.energyStatus(at.hash);
  const regions = new Map();
  for (const entry of status) {
    if (!regions.has(entry.region)) regions.set(entry.region, []);
    regions.get(entry.region).push(entry);
  }
  const head = '<tr><th>Region / kind</th><th class="num">Active</th><th class="num">Online</th><th class="num">Rated kW</th><th class="num">Generation kW</th><th class="num">Consumption kW</th><th class="num">Stored kWh</th><th class="num">Flex up kW</th><th class="num">Flex down kW</th></tr>';
  const body = [...regions.entries()].map(([region, entries]) =>
    row(region, entries, 'region', `#/regions/${encodeURIComponent(region)}`) +
    entries.map((e) => row(kindName(e.kind), [e], 'sub')).join('')).join('');
  return `<h1>Regions</h1>
  <div class="panel"><table data-table="regions"><thead>${head}</thead><tbody>${body || '<tr><td colspan="9" class="muted">No active device yet.</td></tr>'}</tbody></table></div>
  <p class="muted">Figures are the energy status map on chain: a device counts as online while its latest reading is fresh. Rated capacity counts active (verified) devices.</p>`;
}
