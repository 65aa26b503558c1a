// Run by add-validator.zndsl (zombienet js-script): Eve joins the validators by referendum.
//
// 1. Eve's node makes new session keys with a proof of possession (author_rotateKeysWithOwner)
//    and Eve registers them (session.setKeys).
// 2. A referendum on the validators track, voted by the dev accounts, adds Eve
//    (validatorSet.addValidator); the local chain uses the demonstration timing.
// 3. After the session change Eve is in session.validators, and a block authored by her is
//    finalized.

async function run(nodeName, networkInfo) {
  const lib = await import('../tests/polkadot-js/lib/governance.js');
  const chain = await lib.connect(networkInfo.nodesByName[nodeName].wsUri);
  const { api, accounts } = chain;
  const eveNode = await lib.connect(networkInfo.nodesByName.eve.wsUri);
  try {
    const eve = accounts.Eve;
    // polkadot.js has no definition of this RPC method: call it through the provider.
    const owner = '0x' + Buffer.from(eve.addressRaw).toString('hex');
    const generated = await eveNode.provider.send('author_rotateKeysWithOwner', [owner]);
    if (!generated.proof) throw new Error('the node made keys without a proof of possession');
    const events = await lib.send(api, api.tx.session.setKeys(generated.keys, generated.proof), eve);
    lib.findEvent(events, 'system', 'ExtrinsicSuccess');

    const index = await lib.proposeAndVote(
      chain,
      { Origins: 'Validators' },
      api.tx.validatorSet.addValidator(eve.address),
    );
    await lib.waitBlocks(api, 120, `referendum ${index} approved`, () => lib.approved(api, index));
    // Enacted after the track's minimum enactment period (five blocks here).
    const isEve = (v) => v.toString() === eve.address;
    await lib.waitBlocks(api, 20, 'Eve in validatorSet.validators', async () =>
      (await api.query.validatorSet.validators()).some(isEve));
    // Planned at the next session change, active at the one after: sessions are ten blocks.
    await lib.waitBlocks(api, 40, 'Eve in session.validators', async () =>
      (await api.query.session.validators()).some(isEve));
    // Aura gives Eve one slot in five; one of her blocks must be finalized. A block's author is
    // the Aura authority of its slot (the pre-runtime digest) among the parent's authorities;
    // Eve's Aura key is the first of the keys her node made.
    const eveAura = generated.keys.slice(0, 2 + 64);
    const authored = await lib.waitBlocks(api, 40, 'a block authored by Eve', async () => {
      const header = await api.rpc.chain.getHeader();
      const aura = header.digest.logs.find(
        (log) => log.isPreRuntime && log.asPreRuntime[0].toString() === 'aura',
      );
      if (!aura) return null;
      const slot = api.createType('u64', aura.asPreRuntime[1]).toBigInt();
      const authorities = await (await api.at(header.parentHash)).query.aura.authorities();
      const author = authorities[Number(slot % BigInt(authorities.length))];
      return author.toHex() === eveAura ? header.number.toNumber() : null;
    });
    await lib.waitBlocks(api, 40, `block ${authored} finalized`, async () => {
      const finalized = await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead());
      return finalized.number.toNumber() >= authored;
    });
    console.log(`Eve became a validator by referendum ${index} and authored block ${authored}`);
    return authored;
  } finally {
    await api.disconnect();
    await eveNode.api.disconnect();
  }
}

module.exports = { run };
