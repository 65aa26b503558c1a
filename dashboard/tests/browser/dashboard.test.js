// The dashboard in headless Chromium, against a development chain with the simulated fleet and
// the bridge: every page loads without console errors, the figures shown are what the node's
// vpp_* JSON-RPC returns at the block the page says it read, a demand-response event created
// during the test appears live, and each main page is saved as a screenshot.
//
// Run by dashboard/tests/browser.rs, which starts the node, simulator, bridge and dashboard and
// passes: DASHBOARD_URL, OPENVPP_RPC (HTTP), OPENVPP_DEMO (the openvpp-demo binary),
// OPENVPP_WS, SCREENSHOT_DIR and CHROMIUM.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import puppeteer from 'puppeteer-core';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
};

const DASHBOARD = env('DASHBOARD_URL');
const RPC = env('OPENVPP_RPC');
const SHOTS = env('SCREENSHOT_DIR');

let browser;
let page;
const problems = [];

async function rpc(method, params = []) {
  const response = await fetch(RPC, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const answer = await response.json();
  if (answer.error) throw new Error(`${method}: ${answer.error.message}`);
  return answer.result;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: env('CHROMIUM'),
    headless: true,
    // Root in CI: Chromium's sandbox needs a user namespace the machine may not give.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // Leaving a page aborts what it was still fetching: not a failure.
    const reason = request.failure()?.errorText ?? '';
    if (!reason.includes('ERR_ABORTED')) problems.push(`request failed: ${request.url()} ${reason}`);
  });
  page.on('response', (response) => { if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`); });
});

after(async () => {
  await browser?.close();
});

// Opens `hash` and waits until the page has rendered at a block; returns that block's hash.
async function open(hash, selector) {
  await page.goto(`${DASHBOARD}${hash}`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector(`main[data-at] ${selector}`, { timeout: 60_000 });
  return page.$eval('main', (main) => main.dataset.at);
}

// The block the page was rendered at and every data-figure on it, with its raw value, in one
// read of the page, so that the two cannot come from two renders.
function snapshot() {
  return page.evaluate(() => ({
    at: document.querySelector('main').dataset.at,
    shown: Object.fromEntries([...document.querySelectorAll('[data-figure]')].map((n) => [n.dataset.figure, n.dataset.value])),
  }));
}

// Every data-figure on the page, with its raw value.
async function figures() {
  return (await snapshot()).shown;
}

function get(object, path) {
  return path.split('.').reduce((value, key) => value?.[key], object);
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test('the overview shows the network totals the RPC returns', async () => {
  // Wait for the fleet on the page (the harness waited for it on the chain) and for two
  // finalized blocks of history: the charts are drawn from past blocks, so a page at the first
  // block with readings rightly shows "not enough history yet".
  await open('', '[data-figure="live.devices"]');
  await page.waitForFunction(() => Number(document.querySelector('[data-figure="live.devices"]')?.dataset.value) >= 5
    && document.querySelectorAll('main svg.chart polyline').length >= 2, { timeout: 90_000 });
  const { at, shown } = await snapshot();
  const totals = await rpc('vpp_networkTotals', [at]);
  let compared = 0;
  for (const [name, value] of Object.entries(shown)) {
    const match = name.match(/^byKind\.(\w+)\.(.+)$/);
    const expected = match ? get(totals.byKind.find((k) => k.kind === match[1]), match[2]) : get(totals, name);
    assert.equal(String(expected), value, `${name} at ${at}`);
    compared++;
  }
  assert.ok(compared >= 12, `only ${compared} figures on the overview`);
  assert.ok(Number(shown['live.devices']) >= 5, JSON.stringify(shown));
  // The charts are drawn from past blocks.
  assert.ok((await page.$$('main svg.chart polyline')).length >= 2, 'no chart lines');
  // The page follows the finalized head: it catches up with the head line once a block's render
  // is done (the head line changes first, when the block is seen).
  await page.waitForFunction(() => document.querySelector('main').dataset.block === document.getElementById('head').dataset.number, { timeout: 30_000 });
  await shot('overview');
});

test('the regions page shows the energy status map per region', async () => {
  const at = await open('#/regions', 'table[data-table="regions"]');
  const status = await rpc('vpp_energyStatus', [at]);
  const shown = await figures();
  const regions = new Set(status.map((e) => e.region));
  assert.ok(regions.size >= 2);
  for (const region of regions) {
    const entries = status.filter((e) => e.region === region);
    const sum = (key) => entries.reduce((total, e) => total + e.live[key], 0);
    assert.equal(shown[`${region}.live.devices`], String(sum('devices')), region);
    assert.equal(shown[`${region}.live.generationW`], String(sum('generationW')), region);
    assert.equal(shown[`${region}.live.consumptionW`], String(sum('consumptionW')), region);
  }
  await shot('regions');
  const region = [...regions][0];
  const regionAt = await open(`#/regions/${encodeURIComponent(region)}`, 'tr[data-device]');
  const devices = await rpc('vpp_devicesByRegion', [region, null, 100, regionAt]);
  const rows = await page.$$eval('tr[data-device]', (trs) => trs.map((tr) => Number(tr.dataset.device)));
  assert.deepEqual(rows, devices.devices.map((d) => d.id));
});

test('a device page shows its record, latest reading and results', async () => {
  const at = await open('#/device/3', '[data-figure="capability.ratedPowerW"]');
  const [device, telemetry] = await Promise.all([rpc('vpp_device', [3, at]), rpc('vpp_deviceTelemetry', [3, at])]);
  const shown = await figures();
  assert.equal(shown['capability.ratedPowerW'], String(device.capability.ratedPowerW));
  assert.equal(shown['history.reportsAccepted'], String(device.history.reportsAccepted));
  assert.equal(shown['credit.reputationBp'], String(device.credit.reputationBp));
  assert.equal(shown['latest.averagePowerW'], String(telemetry.latest.averagePowerW));
  assert.match(await page.$eval('h1', (h) => h.textContent), /Device #3/);
  await shot('device');
  // An unknown device is a message, not a broken page.
  await open('#/device/99999', 'p.error');
  assert.match(await page.$eval('p.error', (p) => p.textContent), /device 99999 is not registered/);
});

test('a demand-response event created now appears live, then runs', async () => {
  await open('#/events', 'div[data-group="Upcoming"]');
  const before = (await rpc('vpp_drEvents', [null, null, null, 100])).events.map((e) => e.id);
  // Alice consents for her battery, Charlie becomes an operator and announces a discharge 90 s
  // from now (devices join until a minute before), in one-minute intervals.
  const { stdout } = await promisify(execFile)(env('OPENVPP_DEMO'), [
    'event', '--url', env('OPENVPP_WS'), '--start-in-s', '90', '--duration-s', '180', '--interval-length-s', '60',
  ]);
  const id = Number(stdout.match(/(\d+)/)?.[1]);
  assert.ok(id > 0 && !before.includes(id), `openvpp-demo event printed: ${stdout}`);
  // No reload: the page follows new blocks.
  await page.waitForSelector(`tr[data-event="${id}"]`, { timeout: 60_000 });
  const at = await page.$eval('main', (main) => main.dataset.at);
  const event = (await rpc('vpp_drEvent', [id, null, 1, at])).event;
  assert.equal(await page.$eval(`[data-figure="event.${id}.targetPowerW"]`, (n) => n.dataset.value), String(event.targetPowerW));
  // It goes live at its start, still without a reload.
  await page.waitForSelector(`div[data-group="Live"] tr[data-event="${id}"]`, { timeout: 150_000 });
  await shot('events');
  const detailAt = await open(`#/events/${id}`, '[data-figure="targetPowerW"]');
  const detail = await rpc('vpp_drEvent', [id, null, 100, detailAt]);
  const shown = await figures();
  assert.equal(shown.targetPowerW, String(detail.event.targetPowerW));
  assert.equal(shown.selectedDevices, String(detail.event.selectedDevices));
  assert.equal(shown.measuredDeliveryWh, String(detail.event.measuredDeliveryWh));
  for (const participant of detail.participants) {
    assert.equal(shown[`participant.${participant.device}.deliveredWh`], String(participant.deliveredWh));
  }
  assert.ok(detail.event.selectedDevices >= 1, 'the bridge joined the battery');
  await shot('event');
});

test('the rewards and governance pages load and agree with the RPC', async () => {
  const at = await open('#/rewards', '[data-figure="currentEpoch"]');
  const status = await rpc('vpp_rewardsStatus', [at]);
  const shown = await figures();
  assert.equal(shown.currentEpoch, String(status.currentEpoch));
  assert.equal(shown.paidInRetainedEpochsPlanck, status.paidInRetainedEpochsPlanck);
  await shot('rewards');
  const govAt = await open('#/governance', 'table');
  const referenda = await rpc('vpp_referenda', [null, govAt]);
  assert.equal((await page.$$('tr[data-referendum]')).length, referenda.length);
  await shot('governance');
});

test('no page logged an error', () => {
  assert.deepEqual(problems, []);
});
