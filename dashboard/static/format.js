// Formatting and small DOM helpers shared by the pages.

export const DECIMALS = 12n;

export function escape(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// Watts → "12.3 kW"; the raw value is kept in data-value for whoever checks the page.
export function kw(watts) {
  return (Number(watts) / 1000).toLocaleString('en', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
}

export function kwh(wattHours) { return kw(wattHours); }

export function int(value) { return Number(value).toLocaleString('en'); }

// Planck (a decimal string) → OVPP with three decimals, exactly (BigInt).
export function ovpp(planck) {
  const value = BigInt(planck ?? '0');
  const unit = 10n ** DECIMALS;
  const milli = (value * 1000n + unit / 2n) / unit;
  const whole = milli / 1000n;
  const frac = (milli % 1000n).toString().padStart(3, '0');
  return `${whole.toLocaleString('en')}.${frac}`;
}

export function percentBp(bp) { return `${(Number(bp) / 100).toFixed(1)} %`; }
export function percentPpb(ppb) { return `${(Number(ppb) / 1e7).toFixed(1)} %`; }

export function time(unixSeconds) {
  if (!unixSeconds) return '—';
  return new Date(Number(unixSeconds) * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

// A figure with its unit, and its raw value in data attributes for tests and tools.
export function figure(name, raw, shown, unit) {
  return `<span data-figure="${escape(name)}" data-value="${escape(raw)}">${escape(shown)}</span>${unit ? `<span class="unit">${escape(unit)}</span>` : ''}`;
}

export function card(label, name, raw, shown, unit) {
  return `<div class="card"><div class="label">${escape(label)}</div><div class="value">${figure(name, raw, shown, unit)}</div></div>`;
}

export function badge(text) { return `<span class="badge ${escape(text)}">${escape(text)}</span>`; }

// A progress bar (SVG: the page's security policy allows no inline styles).
export function bar(fraction) {
  const pct = Math.max(0, Math.min(1, Number(fraction) || 0)) * 100;
  return `<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="${pct.toFixed(0)} %"><rect width="100" height="8" rx="3" fill="#e9ecef"/><rect width="${pct.toFixed(1)}" height="8" rx="3" fill="#0f5132"/></svg>`;
}

// Kinds as the chain names them, as people read them.
const KIND_NAMES = {
  ElectricVehicle: 'Electric vehicles', EvCharger: 'EV chargers', HomeBattery: 'Home batteries',
  CommercialBattery: 'Commercial batteries', RooftopSolar: 'Rooftop solar', SmartMeter: 'Smart meters',
  EnergyManagementSystem: 'Energy managers',
};
export function kindName(kind) { return KIND_NAMES[kind] ?? kind; }

const KIND_NAME = {
  ElectricVehicle: 'Electric vehicle', EvCharger: 'EV charger', HomeBattery: 'Home battery',
  CommercialBattery: 'Commercial battery', RooftopSolar: 'Rooftop solar', SmartMeter: 'Smart meter',
  EnergyManagementSystem: 'Energy manager',
};
// One device's kind.
export function kindOf(kind) { return KIND_NAME[kind] ?? kind; }

export function shortAccount(account) {
  const text = String(account ?? '');
  return text.length > 16 ? `${text.slice(0, 8)}…${text.slice(-6)}` : text;
}
