// Run by gateway.zndsl (zombienet js-script) with one argument: a gateway beside the network.
//
//   start     starts the device simulator (embedded MQTT broker, Modbus TCP servers) and the
//             oracle bridge for the demo fleet against the node's RPC, ten-second intervals;
//             waits for the bridge's first finalized reports
//   delivers  waits for two more intervals of the seven demo devices to be finalized
//   stop      stops the bridge (SIGTERM, in-flight batches settle) and the simulator, then
//             audits the chain: every interval of every demo device on chain exactly once
//
// The processes outlive each step; their ids, ports and logs are kept in OPENVPP_GATEWAY_DIR
// (scripts/zombienet.sh kills whatever is left there if the test fails). Binaries come from
// OPENVPP_BIN.

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const DEMO_DEVICES = [1, 2, 3, 4, 5, 6, 7];

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run through scripts/zombienet.sh)`);
  return value;
}

const dir = () => env('OPENVPP_GATEWAY_DIR');
const bin = (name) => path.join(env('OPENVPP_BIN'), name);
const statePath = () => path.join(dir(), 'state.json');
const log = (...args) => console.log(new Date().toISOString(), 'gateway:', ...args);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A run of `count` consecutive free ports. */
async function freeRange(count) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ok = await Promise.all(
      Array.from({ length: count }, (_, i) => new Promise((resolve) => {
        const server = net.createServer();
        server.once('error', () => resolve(false));
        server.listen(base + i, '127.0.0.1', () => server.close(() => resolve(true)));
      })),
    );
    if (ok.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

function run(file, args) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Starts a process that outlives this script, logging to `name`.log. */
function background(name, file, args) {
  const out = fs.openSync(path.join(dir(), `${name}.log`), 'a');
  const child = spawn(file, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  fs.writeFileSync(path.join(dir(), `${name}.pid`), String(child.pid));
  return child.pid;
}

async function metric(port, name) {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await response.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const [key, value] = line.split(' ');
    if (key === name || key.startsWith(`${name}{`)) sum += Number(value);
  }
  return sum;
}

async function waitFor(what, seconds, check) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (_) {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

const FINALIZED = 'openvpp_bridge_reports_finalized_total';

async function start(wsUri) {
  fs.mkdirSync(dir(), { recursive: true });
  const mqttPort = await freePort();
  const modbusBasePort = await freeRange(8);
  const metricsPort = await freePort();
  background('sim', bin('openvpp-sim'), [
    '--embedded-broker', '--mqtt-port', String(mqttPort), '--modbus-base-port', String(modbusBasePort),
  ]);
  const config = (await run(bin('openvpp-demo'), [
    'config', '--out', path.join(dir(), 'bridge'), '--url', wsUri, '--mqtt-port', String(mqttPort),
    '--modbus-base-port', String(modbusBasePort), '--interval-s', '10', '--metrics', `127.0.0.1:${metricsPort}`,
  ])).trim();
  background('bridge', bin('openvpp-bridge'), ['run', '--config', config]);
  fs.writeFileSync(statePath(), JSON.stringify({ metricsPort, wsUri }));
  const first = await waitFor('the first finalized reports', 240, async () => metric(metricsPort, FINALIZED));
  log(`simulator and bridge attached to ${wsUri}; ${first} reports finalized`);
}

async function delivers() {
  const { metricsPort } = JSON.parse(fs.readFileSync(statePath()));
  const from = await metric(metricsPort, FINALIZED);
  const target = from + 2 * DEMO_DEVICES.length;
  const reached = await waitFor(`${target} finalized reports`, 200, async () => {
    const now = await metric(metricsPort, FINALIZED);
    return now >= target ? now : null;
  });
  log(`${reached - from} more reports finalized`);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (_) {
    return false;
  }
}

async function stopProcess(name) {
  const pidFile = path.join(dir(), `${name}.pid`);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  if (alive(pid)) process.kill(pid, 'SIGTERM');
  await waitFor(`${name} to exit`, 90, async () => !alive(pid));
  fs.rmSync(pidFile);
}

async function stop() {
  const { wsUri } = JSON.parse(fs.readFileSync(statePath()));
  await stopProcess('bridge');
  await stopProcess('sim');
  const devices = DEMO_DEVICES.join(',');
  // Exits non-zero, with the problems, if an interval is missing or on chain twice.
  await run(bin('openvpp-bridge'), ['audit', '--url', wsUri, '--from-block', '1', '--check-devices', devices]);
  log(`stopped; every interval of devices ${devices} is on chain exactly once`);
}

async function runStep(nodeName, networkInfo, args) {
  const step = (args && args[0]) || '';
  const wsUri = networkInfo.nodesByName[nodeName].wsUri;
  if (step === 'start') await start(wsUri);
  else if (step === 'delivers') await delivers();
  else if (step === 'stop') await stop();
  else throw new Error(`unknown step '${step}' (start, delivers or stop)`);
  return 1;
}

module.exports = { run: runStep };
