// The chain's read model (the `VppApi` runtime API and the node's `vpp_*` JSON-RPC) as a
// developer uses it: polkadot.js decodes `api.call.vppApi.*` from the metadata alone, the
// JSON-RPC answers the same facts as plain JSON, pages walk without gaps or repeats, and bad
// parameters get errors that say what is wrong.
//
// Run by the node's end-to-end tests (node/tests/polkadot_js.rs) against a development chain,
// whose genesis registers the demo fleet (devices 1–7).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { OVPP, connect, findEvent, send } from './lib/governance.js';

let chain;
let api;
let provider;

before(async () => {
  chain = await connect(process.env.OPENVPP_WS);
  ({ api, provider } = chain);
});

after(async () => {
  await api?.disconnect();
});

const rpc = (method, params) => provider.send(method, params);

async function rpcError(method, params) {
  try {
    await rpc(method, params);
  } catch (error) {
    return error.message;
  }
  assert.fail(`${method}(${JSON.stringify(params)}) did not fail`);
}

test('polkadot.js decodes the runtime API from the metadata, and the JSON-RPC agrees', async () => {
  assert.ok(api.call.vppApi, 'api.call.vppApi is missing: the runtime API is not in the metadata');
  const hash = (await api.rpc.chain.getFinalizedHead()).toHex();
  const at = await api.at(hash);
  for (const id of [1, 3, 7]) {
    const decoded = (await at.call.vppApi.device(id)).unwrap();
    const json = await rpc('vpp_device', [id, hash]);
    assert.equal(json.id, id);
    assert.equal(decoded.id.toNumber(), id);
    assert.equal(decoded.kind.toString(), json.kind);
    assert.equal(decoded.status.toString(), json.status);
    assert.equal(decoded.owner.toString(), json.owner, 'the same SS58 address');
    assert.equal(decoded.gateway.toString(), json.gateway);
    assert.equal(decoded.region.toUtf8(), json.region);
    assert.equal(decoded.capability.ratedPowerW.toNumber(), json.capability.ratedPowerW);
    assert.equal(decoded.credit.reputationBp.toNumber(), json.credit.reputationBp);
    assert.equal(decoded.history.reportsAccepted.toNumber(), json.history.reportsAccepted);
    assert.equal(decoded.depositPlanck.toBigInt(), BigInt(json.depositPlanck), 'balances are decimal strings');
  }
  const totals = (await at.call.vppApi.networkTotals()).toJSON();
  assert.deepEqual(totals, await rpc('vpp_networkTotals', [hash]));
});

test('network totals are the sums of the energy status map', async () => {
  const hash = (await api.rpc.chain.getFinalizedHead()).toHex();
  const [totals, status] = await Promise.all([rpc('vpp_networkTotals', [hash]), rpc('vpp_energyStatus', [hash])]);
  const sum = (pick) => status.reduce((total, entry) => total + pick(entry), 0);
  assert.equal(totals.activeDevices, sum((e) => e.activeDevices));
  assert.equal(totals.ratedPowerW, sum((e) => e.ratedPowerW));
  assert.equal(totals.live.devices, sum((e) => e.live.devices));
  assert.equal(totals.regions, new Set(status.map((e) => e.region)).size);
  // The demo fleet is registered and active at genesis.
  assert.equal(totals.registeredDevices, 7);
  assert.ok(totals.activeDevices >= 6, JSON.stringify(totals));
});

test('pages walk an index without gaps or repeats', async () => {
  const hash = (await api.rpc.chain.getFinalizedHead()).toHex();
  const owner = (await rpc('vpp_device', [1, hash])).owner;
  const all = await rpc('vpp_devicesByOwner', [owner, null, 100, hash]);
  assert.equal(all.next, null);
  assert.ok(all.devices.length >= 2, JSON.stringify(all));
  const walked = [];
  let after = null;
  for (let pages = 0; pages < 20; pages++) {
    const page = await rpc('vpp_devicesByOwner', [owner, after, 2, hash]);
    assert.ok(page.devices.length <= 2);
    walked.push(...page.devices.map((d) => d.id));
    if (page.next == null) break;
    after = page.next;
  }
  assert.deepEqual(walked, all.devices.map((d) => d.id));
  for (const device of all.devices) assert.equal(device.owner, owner);

  const region = (await rpc('vpp_device', [1, hash])).region;
  const inRegion = await rpc('vpp_devicesByRegion', [region, null, 100, hash]);
  assert.ok(inRegion.devices.some((d) => d.id === 1));
  for (const device of inRegion.devices) assert.equal(device.region, region);
});

test('bad parameters get errors that say what is wrong', async () => {
  assert.match(await rpcError('vpp_devicesByOwner', ['not-an-address']), /owner 'not-an-address' is not an SS58 address/);
  assert.match(await rpcError('vpp_devicesByOwner', ['0x1234']), /is not 32 bytes of hex/);
  assert.match(await rpcError('vpp_devicesByRegion', ['de-tennet']), /region 'de-tennet' is not a region code/);
  assert.match(await rpcError('vpp_epochResults', [1, null, 0]), /limit must be 1 to 100, not 0/);
  assert.match(await rpcError('vpp_epochResults', [1, null, 101]), /limit must be 1 to 100, not 101/);
  assert.match(await rpcError('vpp_drEvents', ['running']), /status 'running' is not one of scheduled, active, completed, settled, cancelled/);
  assert.match(await rpcError('vpp_deviceResults', [1, 31]), /epochs must be 1 to 30/);
  assert.match(await rpcError('vpp_device', [999999]), /device 999999 is not registered/);
  assert.match(await rpcError('vpp_drEvent', [424242]), /demand-response event 424242 does not exist/);
  assert.match(await rpcError('vpp_device', ['one']), /invalid type|Invalid params/i);
});

test('an open referendum and its tally, as the chain holds them', async () => {
  const { accounts } = chain;
  const call = api.tx.system.remark('0x0b5e');
  await send(api, api.tx.preimage.notePreimage(call.method.toHex()), accounts.Alice);
  const submitted = await send(
    api,
    api.tx.referenda.submit({ system: 'Root' }, { Lookup: { hash: call.method.hash, len: call.method.encodedLength } }, { After: 0 }),
    accounts.Alice,
  );
  const index = findEvent(submitted, 'referenda', 'Submitted').data[0].toNumber();
  // Little support: it stays open for its decision period while the test reads it.
  await send(api, api.tx.convictionVoting.vote(index, { Standard: { vote: { aye: true, conviction: 'Locked2x' }, balance: 10n * OVPP } }), accounts.Bob);
  await send(api, api.tx.convictionVoting.vote(index, { Standard: { vote: { aye: false, conviction: 'None' }, balance: 50n * OVPP } }), accounts.Charlie);

  const hash = (await api.rpc.chain.getBlockHash()).toHex();
  const info = (await (await api.at(hash)).query.referenda.referendumInfoFor(index)).unwrap();
  assert.ok(info.isOngoing, `referendum ${index}: ${info}`);
  const tally = info.asOngoing.tally;
  const referenda = await rpc('vpp_referenda', [null, hash]);
  const view = referenda.find((r) => r.index === index);
  assert.ok(view, `referendum ${index} is not listed: ${JSON.stringify(referenda)}`);
  assert.equal(view.trackName, 'root');
  assert.equal(view.track, 0);
  // Conviction 2x on 10 OVPP aye; no conviction counts a tenth of 50 OVPP nay.
  assert.equal(BigInt(view.ayesPlanck), 20n * OVPP);
  assert.equal(BigInt(view.naysPlanck), 5n * OVPP);
  assert.equal(BigInt(view.ayesPlanck), tally.ayes.toBigInt());
  assert.equal(BigInt(view.naysPlanck), tally.nays.toBigInt());
  assert.equal(BigInt(view.supportPlanck), tally.support.toBigInt());
  assert.equal(view.approvalPpb, Math.round((20 / 25) * 1e9));
});
