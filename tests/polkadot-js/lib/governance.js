// What an OVPP holder does through polkadot.js, shared by the governance tests and the runtime
// upgrade script: connect, send transactions and wait for them, vote referenda through.

import assert from 'node:assert/strict';

import { ApiPromise, Keyring, WsProvider } from '@polkadot/api';
import { cryptoWaitReady } from '@polkadot/util-crypto';

export const OVPP = 10n ** 12n;

/** Connects to `url` and returns the API, the six dev accounts (Alice … Ferdie) and the
 * provider (for RPC methods polkadot.js does not know, such as `author_rotateKeysWithOwner`). */
export async function connect(url) {
  assert.ok(url, 'no node address given (OPENVPP_WS)');
  await cryptoWaitReady();
  const provider = new WsProvider(url);
  const api = await ApiPromise.create({ provider, throwOnConnect: true });
  const keyring = new Keyring({ type: 'sr25519', ss58Format: api.registry.chainSS58 });
  const accounts = Object.fromEntries(
    ['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie'].map((n) => [n, keyring.addFromUri(`//${n}`)]),
  );
  return { api, accounts, provider };
}

/** Signs and sends `tx`, resolving with its events once it is in a block; rejects with the
 * decoded module error if its dispatch failed. */
export function send(api, tx, signer) {
  return new Promise((resolve, reject) => {
    let unsubscribe;
    let settled = false;
    const finish = (f, v) => {
      if (settled) return;
      settled = true;
      unsubscribe?.();
      f(v);
    };
    tx.signAndSend(signer, { nonce: -1 }, ({ status, dispatchError, events }) => {
      if (dispatchError) {
        if (dispatchError.isModule) {
          const { section, name, docs } = api.registry.findMetaError(dispatchError.asModule);
          finish(reject, new Error(`${section}.${name}: ${docs.join(' ')}`));
        } else {
          finish(reject, new Error(dispatchError.toString()));
        }
      } else if (status.isInBlock || status.isFinalized) {
        finish(resolve, events);
      } else if (status.isInvalid || status.isDropped || status.isUsurped) {
        finish(reject, new Error(`transaction ${status.type}`));
      }
    })
      .then((u) => {
        unsubscribe = u;
        if (settled) u();
      })
      .catch((e) => finish(reject, e));
  });
}

/** The event `section.method` among `events`; fails the test if there is none. */
export function findEvent(events, section, method) {
  const found = events.find(({ event }) => event.section === section && event.method === method);
  assert.ok(
    found,
    `no ${section}.${method} among ${events.map(({ event }) => `${event.section}.${event.method}`)}`,
  );
  return found.event;
}

/** An account's free balance, in planck. */
export async function free(api, account) {
  const { data } = await api.query.system.account(account.address ?? account);
  return data.free.toBigInt();
}

/** Waits up to `blocks` new blocks for `check()` to return a truthy value, and returns it. */
export function waitBlocks(api, blocks, what, check) {
  let seen = 0;
  return new Promise((resolve, reject) => {
    let unsubscribe;
    let done = false;
    const finish = (f, v) => {
      if (done) return;
      done = true;
      unsubscribe?.();
      f(v);
    };
    api.rpc.chain
      .subscribeNewHeads(async () => {
        if (done) return;
        seen += 1;
        try {
          const value = await check();
          if (value) finish(resolve, value);
          else if (seen > blocks) finish(reject, new Error(`${what} did not happen within ${blocks} blocks`));
        } catch (e) {
          finish(reject, e);
        }
      })
      .then((u) => {
        unsubscribe = u;
        if (done) u();
      })
      .catch((e) => finish(reject, e));
  });
}

/** Notes `call` as a preimage, submits it on the track of `origin` with Alice, places the
 * decision deposit with Bob and has the six dev accounts vote aye with 1x conviction.
 * Returns the referendum's index. */
export async function proposeAndVote({ api, accounts }, origin, call) {
  await send(api, api.tx.preimage.notePreimage(call.method.toHex()), accounts.Alice);
  const submitted = await send(
    api,
    api.tx.referenda.submit(
      origin,
      { Lookup: { hash: call.method.hash, len: call.method.encodedLength } },
      { After: 0 },
    ),
    accounts.Alice,
  );
  const index = findEvent(submitted, 'referenda', 'Submitted').data[0].toNumber();
  await send(api, api.tx.referenda.placeDecisionDeposit(index), accounts.Bob);
  for (const voter of Object.values(accounts)) {
    // All but 20 000 OVPP, which stay spendable for fees and transfers: a vote's lock
    // freezes what it votes with.
    const balance = (await free(api, voter)) - 20_000n * OVPP;
    await send(
      api,
      api.tx.convictionVoting.vote(index, {
        Standard: { vote: { aye: true, conviction: 'Locked1x' }, balance },
      }),
      voter,
    );
  }
  const info = await api.query.referenda.referendumInfoFor(index);
  assert.ok(info.unwrap().isOngoing, `referendum ${index} is ongoing`);
  return index;
}

/** Whether referendum `index` has passed. */
export async function approved(api, index) {
  const info = await api.query.referenda.referendumInfoFor(index);
  return info.isSome && info.unwrap().isApproved;
}
