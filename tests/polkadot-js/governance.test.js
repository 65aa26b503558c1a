// OVPP holders govern a running development chain through polkadot.js, as Apps does: a
// preimage is noted, a referendum submitted with its decision deposit, dev accounts vote with
// conviction, and once it passes and is enacted a scoring weight has changed on-chain; a
// treasury spend passes the same way and is paid out.
//
// Run by the node's end-to-end tests (node/tests/polkadot_js.rs), which start the node and pass
// its address in OPENVPP_WS.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { encodeAddress } from '@polkadot/util-crypto';
import { stringToU8a, u8aConcat } from '@polkadot/util';

import { OVPP, approved, connect, findEvent, free, proposeAndVote, send, waitBlocks } from './lib/governance.js';

// Each referendum takes about 20 blocks with the development chain's timing; allow many more.
const BLOCKS_TO_ENACT = 60;

let chain;
let api;
let accounts;

before(async () => {
  chain = await connect(process.env.OPENVPP_WS);
  ({ api, accounts } = chain);
});

after(async () => {
  await api?.disconnect();
});

test('the tracks polkadot.js Apps lists are there', () => {
  const names = api.consts.referenda.tracks.map(([, info]) =>
    // The name is a fixed array of bytes padded with zeros: bare, without a length prefix.
    new TextDecoder().decode(info.name.toU8a(true).filter((b) => b !== 0)),
  );
  assert.deepEqual(names, [
    'root',
    'network_parameters',
    'device_verifiers',
    'demand_response_operators',
    'validators',
    'treasurer',
  ]);
  // The development chain decides in blocks, not days.
  const [, root] = api.consts.referenda.tracks[0];
  assert.equal(root.confirmPeriod.toNumber(), 5);
  assert.ok(api.tx.convictionVoting.vote && api.tx.referenda.submit);
});

test('a scoring weight changes by referendum', async () => {
  const key = { Rewards: { GenerationWeight: null } };
  const current = await api.query.parameters.parameters(key);
  // Unset: the 25 % default applies.
  assert.ok(current.isNone, `already set: ${current}`);
  const thirtyPercent = 300_000_000;
  const call = api.tx.parameters.setParameter({ Rewards: { GenerationWeight: [null, thirtyPercent] } });
  const index = await proposeAndVote(chain, { Origins: 'NetworkParameters' }, call);

  const value = await waitBlocks(api, BLOCKS_TO_ENACT, `referendum ${index} enacted`, async () => {
    const v = await api.query.parameters.parameters(key);
    return v.isSome ? v.unwrap() : null;
  });
  assert.ok(await approved(api, index));
  assert.equal(value.asRewards.asGenerationWeight.toNumber(), thirtyPercent);
});

test('a treasury spend passes by referendum and is paid out', async () => {
  const palletId = api.consts.treasury.palletId.toU8a();
  const treasury = encodeAddress(
    u8aConcat(stringToU8a('modl'), palletId, new Uint8Array(32 - 4 - palletId.length)),
    api.registry.chainSS58,
  );
  await send(api, api.tx.balances.transferKeepAlive(treasury, 10_000n * OVPP), accounts.Alice);
  const amount = 5_000n * OVPP;
  // Ferdie's vote locks his balance, but a lock does not stop him receiving.
  const call = api.tx.treasury.spend(null, amount, { Id: accounts.Ferdie.address }, null);
  const index = await proposeAndVote(chain, { Origins: 'Treasurer' }, call);

  await waitBlocks(api, BLOCKS_TO_ENACT, `referendum ${index} enacted`, () => approved(api, index));
  const spendIndex = await waitBlocks(api, 10, 'the spend approved', async () => {
    const count = (await api.query.treasury.spendCount()).toNumber();
    return count > 0 ? count : null;
  });
  const spend = (await api.query.treasury.spends(spendIndex - 1)).unwrap();
  assert.equal(spend.amount.toBigInt(), amount);

  const before = await free(api, accounts.Ferdie);
  const events = await send(api, api.tx.treasury.payout(spendIndex - 1), accounts.Charlie);
  findEvent(events, 'treasury', 'Paid');
  assert.equal(await free(api, accounts.Ferdie), before + amount);
});
