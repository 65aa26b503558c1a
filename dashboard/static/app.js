// The console: a hash router over the pages, and the finalized head every page reads at.
// When a new block is finalized, the page on screen is read again at it.

import { finalizedHead } from './rpc.js';
import { escape } from './format.js';
import { paintLegends } from './charts.js';
import * as overview from './pages/overview.js';
import * as regions from './pages/regions.js';
import * as device from './pages/device.js';
import * as events from './pages/events.js';
import * as rewards from './pages/rewards.js';
import * as governance from './pages/governance.js';

const POLL_MS = 3000;

// #/path/arg → [page module, nav key, args]
function route(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined: return [overview, 'overview', []];
    case 'regions': return [regions, 'regions', parts.slice(1)];
    case 'device': return [device, null, parts.slice(1)];
    case 'events': return [events, 'events', parts.slice(1)];
    case 'rewards': return [rewards, 'rewards', []];
    case 'governance': return [governance, 'governance', []];
    default: return [null, null, parts];
  }
}

const main = document.getElementById('main');
const headLine = document.getElementById('head');
let head = null;
let rendering = Promise.resolve();
let shownFor = '';

async function render(reason) {
  if (!head) return;
  const [page, nav, args] = route(location.hash);
  for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.dataset.nav === nav);
  const key = `${location.hash}@${head.hash}`;
  if (key === shownFor) return;
  if (!page) {
    main.innerHTML = `<h1>Not found</h1><p>There is no page <code>${escape(location.hash)}</code>.</p>`;
    shownFor = key;
    return;
  }
  const at = head;
  try {
    const html = await page.render({ args, at, reason });
    // A newer block or another page may have been asked for meanwhile.
    if (at !== head || `${location.hash}@${at.hash}` !== key) return;
    main.innerHTML = html;
    main.dataset.at = at.hash;
    main.dataset.block = String(at.number);
    paintLegends(main);
    page.attach?.(main, { args, at, refresh: () => { shownFor = ''; schedule('refresh'); } });
    shownFor = key;
  } catch (error) {
    main.innerHTML = `<h1>Cannot show this page</h1><p class="error">${escape(error.message)}</p>`;
    shownFor = key;
  }
}

function schedule(reason) {
  rendering = rendering.then(() => render(reason));
  return rendering;
}

async function follow() {
  try {
    const latest = await finalizedHead();
    if (!head || latest.hash !== head.hash) {
      head = latest;
      headLine.textContent = `finalized block #${latest.number}`;
      headLine.dataset.hash = latest.hash;
      headLine.dataset.number = String(latest.number);
      await schedule('block');
    }
  } catch (error) {
    headLine.textContent = `node unreachable (${error.message}); retrying`;
  }
  setTimeout(follow, POLL_MS);
}

window.addEventListener('hashchange', () => { shownFor = ''; schedule('navigation'); });
document.getElementById('device-search').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = document.getElementById('device-id').value;
  if (id) location.hash = `#/device/${encodeURIComponent(id)}`;
});
follow();
