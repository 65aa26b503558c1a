// The node's JSON-RPC over HTTP: single calls and batches. The node's address comes from the
// server that served this page (/config.json).

let endpoint;
let nextId = 1;

export class RpcError extends Error {
  constructor(method, error) {
    super(`${method}: ${error.message}`);
    this.code = error.code;
  }
}

async function url() {
  if (!endpoint) {
    const response = await fetch('/config.json', { cache: 'no-store' });
    endpoint = (await response.json()).rpc;
  }
  return endpoint;
}

async function post(body) {
  const response = await fetch(await url(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`the node answered HTTP ${response.status}`);
  return response.json();
}

// One call; a JSON-RPC error becomes an RpcError.
export async function call(method, params = []) {
  const answer = await post({ jsonrpc: '2.0', id: nextId++, method, params });
  if (answer.error) throw new RpcError(method, answer.error);
  return answer.result;
}

// Many calls in one request: each result, or an RpcError in its place.
export async function batch(calls) {
  if (calls.length === 0) return [];
  const first = nextId;
  nextId += calls.length;
  const answers = await post(calls.map(([method, params], i) => ({ jsonrpc: '2.0', id: first + i, method, params })));
  const byId = new Map(answers.map((answer) => [answer.id, answer]));
  return calls.map(([method], i) => {
    const answer = byId.get(first + i);
    if (!answer) return new RpcError(method, { code: 0, message: 'no answer' });
    return answer.error ? new RpcError(method, answer.error) : answer.result;
  });
}

// The finalized head: its hash, number and the chain's time there.
export async function finalizedHead() {
  const hash = await call('chain_getFinalizedHead');
  const header = await call('chain_getHeader', [hash]);
  return { hash, number: parseInt(header.number, 16) };
}

export const vpp = {
  device: (id, at) => call('vpp_device', [id, at]),
  devicesByRegion: (region, after, limit, at) => call('vpp_devicesByRegion', [region, after, limit, at]),
  deviceTelemetry: (id, at) => call('vpp_deviceTelemetry', [id, at]),
  energyStatus: (at) => call('vpp_energyStatus', [at]),
  networkTotals: (at) => call('vpp_networkTotals', [at]),
  deviceResults: (id, epochs, at) => call('vpp_deviceResults', [id, epochs, at]),
  epochResults: (epoch, after, limit, at) => call('vpp_epochResults', [epoch, after, limit, at]),
  rewardsStatus: (at) => call('vpp_rewardsStatus', [at]),
  drEvents: (status, region, before, limit, at) => call('vpp_drEvents', [status, region, before, limit, at]),
  drEvent: (id, after, limit, at) => call('vpp_drEvent', [id, after, limit, at]),
  referenda: (limit, at) => call('vpp_referenda', [limit, at]),
};

// What `callFor(hash)` ([method, params]) answers at each of `numbers` (block numbers), oldest
// first. Blocks whose state the node no longer keeps are left out. `cache` maps a block hash to
// its answer (blocks do not change), so that a page that follows the chain asks only for new
// blocks.
export async function atBlocks(numbers, callFor, cache) {
  const hashes = await batch(numbers.map((n) => ['chain_getBlockHash', [n]]));
  const wanted = hashes.filter((hash) => typeof hash === 'string' && !cache.has(hash));
  const values = await batch(wanted.map((hash) => callFor(hash)));
  wanted.forEach((hash, i) => { if (!(values[i] instanceof Error)) cache.set(hash, values[i]); });
  return hashes.filter((hash) => cache.has(hash)).map((hash) => cache.get(hash));
}
