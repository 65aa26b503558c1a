// Network overview: devices online by kind, generation / consumption / storage / flexibility
// now, and over the last hours as charts read from past blocks.

import { vpp, atBlocks } from '../rpc.js';
import { card, escape, int, kindName, kw, kwh, figure } from '../format.js';
import { lineChart } from '../charts.js';

const WINDOWS = { '1 h': 3600, '6 h': 6 * 3600, '24 h': 24 * 3600 };
const SAMPLES = 36;
const history = new Map();
const totalsAt = (hash) => ['vpp_networkTotals', [hash]];
let windowName = '1 h';
let blockTimeS = 6;

export async function render({ at }) {
  const totals = await vpp.networkTotals(at.hash);
  // The block time, from the chain's own clock 100 blocks back (for spacing the samples).
  const back = Math.max(1, at.number - 100);
  if (at.number > back) {
    const [old] = await atBlocks([back], totalsAt, history);
    if (old && totals.now > old.now) blockTimeS = (totals.now - old.now) / (at.number - back);
  }
  const span = Math.round(WINDOWS[windowName] / blockTimeS);
  // A young chain is sampled over the blocks it has.
  const step = Math.max(1, Math.floor(Math.min(span, at.number - 1) / SAMPLES));
  // Samples on multiples of `step`, so that a new block adds one sample and the rest are cached.
  const numbers = [at.number];
  for (let n = Math.floor((at.number - 1) / step) * step; n >= Math.max(1, at.number - span); n -= step) numbers.unshift(n);
  const past = await atBlocks(numbers, totalsAt, history);
  const points = (pick) => past.map((t) => [t.now, pick(t)]);
  const live = totals.live;

  const kinds = totals.byKind.filter((k) => k.activeDevices > 0 || k.live.devices > 0);
  return `
  <h1>Network overview</h1>
  <div class="cards">
    ${card('Devices online', 'live.devices', live.devices, int(live.devices))}
    ${card('Active devices', 'activeDevices', totals.activeDevices, int(totals.activeDevices))}
    ${card('Registered devices', 'registeredDevices', totals.registeredDevices, int(totals.registeredDevices))}
    ${card('Generation now', 'live.generationW', live.generationW, kw(live.generationW), 'kW')}
    ${card('Consumption now', 'live.consumptionW', live.consumptionW, kw(live.consumptionW), 'kW')}
    ${card('Stored above reserves', 'live.storageAvailableWh', live.storageAvailableWh, kwh(live.storageAvailableWh), 'kWh')}
    ${card('Flexibility up', 'live.flexUpW', live.flexUpW, kw(live.flexUpW), 'kW')}
    ${card('Flexibility down', 'live.flexDownW', live.flexDownW, kw(live.flexDownW), 'kW')}
    ${card('Rated capacity', 'ratedPowerW', totals.ratedPowerW, kw(totals.ratedPowerW), 'kW')}
    ${card('Storage capacity', 'storageCapacityWh', totals.storageCapacityWh, kwh(totals.storageCapacityWh), 'kWh')}
  </div>
  <div class="tabs" id="window">${Object.keys(WINDOWS).map((name) => `<button data-window="${escape(name)}" class="${name === windowName ? 'active' : ''}">${escape(name)}</button>`).join('')}<span class="muted">history from ${past.length} finalized blocks (blocks whose state the node has pruned are left out)</span></div>
  <div class="grid2">
    <div class="panel"><h2>Power (kW)</h2>${lineChart([
      { name: 'Generation', color: '#f59f00', points: points((t) => t.live.generationW / 1000) },
      { name: 'Consumption', color: '#1c7ed6', points: points((t) => t.live.consumptionW / 1000) },
    ], { yFormat: (v) => v.toFixed(1), unit: 'kW', label: 'generation and consumption' })}</div>
    <div class="panel"><h2>Storage and flexibility</h2>${lineChart([
      { name: 'Stored above reserves (kWh)', color: '#2f9e44', points: points((t) => t.live.storageAvailableWh / 1000) },
      { name: 'Flexibility up (kW)', color: '#ae3ec9', points: points((t) => t.live.flexUpW / 1000) },
      { name: 'Flexibility down (kW)', color: '#868e96', points: points((t) => t.live.flexDownW / 1000) },
    ], { yFormat: (v) => v.toFixed(1), unit: 'kWh / kW', label: 'storage and flexibility' })}</div>
  </div>
  <div class="panel"><h2>Devices by kind</h2>
  <table><thead><tr><th>Kind</th><th class="num">Active</th><th class="num">Online</th><th class="num">Rated kW</th><th class="num">Storage kWh</th><th class="num">Generation kW</th><th class="num">Consumption kW</th><th class="num">Flex up kW</th></tr></thead><tbody>
  ${kinds.map((k) => `<tr data-kind="${escape(k.kind)}"><td>${escape(kindName(k.kind))}</td>
    <td class="num">${figure(`byKind.${k.kind}.activeDevices`, k.activeDevices, int(k.activeDevices))}</td>
    <td class="num">${figure(`byKind.${k.kind}.live.devices`, k.live.devices, int(k.live.devices))}</td>
    <td class="num">${kw(k.ratedPowerW)}</td><td class="num">${kwh(k.storageCapacityWh)}</td>
    <td class="num">${kw(k.live.generationW)}</td><td class="num">${kw(k.live.consumptionW)}</td><td class="num">${kw(k.live.flexUpW)}</td></tr>`).join('') || '<tr><td colspan="8" class="muted">No active device yet.</td></tr>'}
  </tbody></table></div>
  <p class="muted">${int(totals.regions)} regions — see <a href="#/regions">Regions</a>. Online means the device's latest reading is still fresh on chain.</p>`;
}

export function attach(root, { refresh }) {
  for (const button of root.querySelectorAll('#window button')) {
    button.addEventListener('click', () => { windowName = button.dataset.window; refresh(); });
  }
}
