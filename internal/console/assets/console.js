// vipfarm web console. Plain JavaScript, no framework, nothing loaded from
// elsewhere. It reads console/config.json (the peers' admin URLs and the
// modules), then every poll_ms asks every peer GET /api/v1/modules/<AM> and
// draws one card per node. A peer that does not answer is an ERROR card
// (red), as in the SafeKit console; the others keep updating.
//
// The pure functions (normalise, colour, ownersOf, ...) are exported for the
// Node.js unit test (console_test.js); the DOM part runs only in a browser.
'use strict';

(function () {
  const BUCKETS = 256;
  const TOKEN_KEY = 'vipfarm.adminToken';
  // Owner colours avoid green, orange and red: a bucket's owner must never
  // read as a module state.
  const PALETTE = ['#4e79a7', '#76b7b2', '#b07aa1', '#edc948', '#9c755f', '#ff9da7', '#59a1c9', '#bab0ac'];
  const NO_OWNER = '#eceff1';
  const CONFLICT = '#202124';
  const STATES = ['STOP', 'WAIT', 'UP'];
  const RES_COLOUR = { up: 'var(--green)', down: 'var(--red)', init: 'var(--orange)', unknown: 'var(--grey)' };
  const LOG_LINES = 30;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  // colour is SPEC §3 (console.Colour in Go): UP ready green; UP or WAIT
  // transient orange; STOP and WAIT not ready red. A WAIT held by a failover
  // rule is not ready (red); one waiting for resources still in init is
  // transient (orange). An unreachable node is red too, drawn by the caller.
  function colour(state, ready, rule) {
    if (state === 'UP' && ready) return 'green';
    if ((state === 'UP' && !ready) || (state === 'WAIT' && !ready && !rule)) return 'orange';
    return 'red';
  }

  // readiness is the word under the state, as the module log says it.
  function readiness(state, ready, rule) {
    if (ready) return 'ready';
    if (state === 'WAIT' && rule) return 'not ready';
    return 'transient';
  }

  function shareOf(count) {
    return Math.floor((count * 100 + BUCKETS / 2) / BUCKETS);
  }

  // normalise checks one GET /api/v1/modules/<AM> answer (console.ModuleView)
  // and returns the shape the cards draw. It also reads the field names of
  // farmd's first API (name, lans + last_heard_ms) so either daemon works.
  function normalise(raw) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('answer is not a JSON object');
    const state = raw.state;
    if (!STATES.includes(state)) throw new Error('state ' + JSON.stringify(state) + ' is not STOP|WAIT|UP');
    const v = {
      node: String(raw.node || ''),
      module: String(raw.module || raw.name || ''),
      state: state,
      ready: raw.ready === true,
      rule: raw.rule ? String(raw.rule) : '',
      resources: [],
      groups: [],
      peers: [],
      log: Array.isArray(raw.log) ? raw.log.map(String) : null,
    };
    for (const r of Array.isArray(raw.resources) ? raw.resources : []) {
      v.resources.push({ name: String(r.name), state: String(r.state) });
    }
    for (const g of Array.isArray(raw.groups) ? raw.groups : []) {
      const owned = Array.isArray(g.owned) ? g.owned.filter((b) => Number.isInteger(b) && b >= 0 && b < BUCKETS) : [];
      v.groups.push({
        name: String(g.name),
        owned: owned,
        share: Number.isInteger(g.share) ? g.share : shareOf(owned.length),
        owners: Array.isArray(g.owners) && g.owners.length === BUCKETS ? g.owners.map((o) => (o ? String(o) : '')) : null,
      });
    }
    for (const p of Array.isArray(raw.peers) ? raw.peers : []) {
      const lans = [];
      if (p.last_heartbeat_ms && typeof p.last_heartbeat_ms === 'object' && !Array.isArray(p.last_heartbeat_ms)) {
        for (const [lan, ms] of Object.entries(p.last_heartbeat_ms)) lans.push([lan, ms]);
      } else if (Array.isArray(p.last_heard_ms)) {
        p.last_heard_ms.forEach((ms, i) => lans.push([Array.isArray(p.lans) && p.lans[i] ? p.lans[i] : 'lan' + (i + 1), ms]));
      }
      v.peers.push({ name: String(p.name), alive: p.alive === true, state: String(p.state || ''), ready: p.ready === true, rule: p.rule ? String(p.rule) : '', lans: lans });
    }
    return v;
  }

  // moduleNames reads GET /api/v1/modules: a list of names or of module views,
  // or an object holding such a list under "modules".
  function moduleNames(list) {
    if (list && !Array.isArray(list) && Array.isArray(list.modules)) list = list.modules;
    if (!Array.isArray(list)) return [];
    const out = [];
    for (const m of list) {
      const n = typeof m === 'string' ? m : m && (m.module || m.name);
      if (n && !out.includes(String(n))) out.push(String(n));
    }
    return out;
  }

  // ownersOf returns, for each of the 256 buckets of group name, the list of
  // nodes owning it: from the node's own table when it sends one, else from
  // what every reachable node claims (two names = a double claim).
  function ownersOf(view, name, views) {
    const g = view.groups.find((x) => x.name === name);
    const out = Array.from({ length: BUCKETS }, () => []);
    if (g && g.owners) {
      g.owners.forEach((o, b) => { if (o) out[b].push(o); });
      return out;
    }
    for (const v of views) {
      const vg = v.groups.find((x) => x.name === name);
      if (!vg) continue;
      for (const b of vg.owned) if (!out[b].includes(v.node)) out[b].push(v.node);
    }
    return out;
  }

  // nodeColours gives every node name a palette colour, in first-seen order
  // (cards in peer order first), so a node keeps its colour on every card.
  function nodeColours(views) {
    const names = [];
    const add = (n) => { if (n && !names.includes(n)) names.push(n); };
    for (const v of views) add(v.node);
    for (const v of views) {
      for (const p of v.peers) add(p.name);
      for (const g of v.groups) if (g.owners) g.owners.forEach(add);
    }
    const m = new Map();
    names.forEach((n, i) => m.set(n, PALETTE[i % PALETTE.length]));
    return m;
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined || ms < 0) return 'never';
    if (ms < 10000) return Math.round(ms) + ' ms';
    return Math.round(ms / 1000) + ' s';
  }

  function dot(fill) {
    return '<svg class="dot" viewBox="0 0 10 10" aria-hidden="true"><circle cx="5" cy="5" r="5" fill="' + esc(fill) + '"/></svg>';
  }

  function bucketMap(view, g, views, colours) {
    const owners = ownersOf(view, g.name, views);
    const counts = new Map();
    let rects = '';
    owners.forEach((os, b) => {
      let fill = NO_OWNER;
      let who = 'no owner';
      if (os.length === 1) {
        fill = colours.get(os[0]) || PALETTE[PALETTE.length - 1];
        who = os[0];
      } else if (os.length > 1) {
        fill = CONFLICT;
        who = 'claimed by ' + os.join(' and ');
      }
      counts.set(who, (counts.get(who) || 0) + 1);
      rects += '<rect x="' + (b % 16) + '" y="' + Math.floor(b / 16) + '" width="0.92" height="0.92" fill="' + fill +
        '"><title>bucket ' + b + ': ' + esc(who) + '</title></rect>';
    });
    let legend = '';
    for (const [who, n] of [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
      const fill = who === 'no owner' ? NO_OWNER : who.startsWith('claimed by ') ? CONFLICT : colours.get(who) || PALETTE[PALETTE.length - 1];
      legend += '<li>' + dot(fill) + esc(who) + ' ' + n + '</li>';
    }
    const pct = Math.max(0, Math.min(100, g.share));
    return '<div class="group"><div class="gname"><span>' + esc(g.name) + '</span><b>' + pct + '% (' + g.owned.length + '/' + BUCKETS + ')</b></div>' +
      '<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true"><rect width="100" height="8" fill="#eceff1"/><rect width="' + pct +
      '" height="8" fill="' + esc(colours.get(view.node) || PALETTE[0]) + '"/></svg>' +
      '<div class="gwrap"><svg class="bmap" viewBox="0 0 16 16" role="img" aria-label="bucket map of ' + esc(g.name) + '">' + rects + '</svg>' +
      '<ul class="owners">' + legend + '</ul></div></div>';
  }

  // cardHTML draws one node. entry = {peer, name, view, error, at, msg, msgBad};
  // name is the configured node name, used while the node has never answered.
  function cardHTML(entry, views, colours, module) {
    const v = entry.view;
    const down = !!entry.error;
    const cls = down ? 'red' : colour(v.state, v.ready, v.rule);
    const name = v ? v.node : entry.name || hostOf(entry.peer);
    let head = '<header class="st-' + cls + '"><span class="node">' + esc(name || '?') + '</span>';
    if (down) {
      head += '<span class="state">ERROR</span><span class="sub">unreachable</span>';
    } else {
      head += '<span class="state">' + esc(v.state) + '</span><span class="sub">' + readiness(v.state, v.ready, v.rule) + '</span>';
      if (v.groups.length) head += '<span class="share">' + esc(v.groups[0].name) + ' ' + v.groups[0].share + '%</span>';
    }
    head += '</header>';

    let body = '';
    if (down) {
      body += '<p class="err">Cannot read ' + esc(apiURL(entry.peer, module)) + ': ' + esc(entry.error) + '</p>' +
        '<p class="muted">The node is down, farmd is not running on it, or a firewall or CORS refuses this page.</p>';
      if (v) body += '<p class="muted">Last answer at ' + esc(new Date(entry.at).toLocaleTimeString()) + '; below is what it said then.</p>';
    }
    if (v) {
      let inner = '';
      if (v.state === 'WAIT' && v.rule) inner += '<p class="rule">WAIT on failover rule ' + esc(v.rule) + '</p>';
      else if (v.rule) inner += '<p class="muted">rule ' + esc(v.rule) + '</p>';
      for (const g of v.groups) inner += bucketMap(v, g, views, colours);
      if (v.resources.length) {
        inner += '<h3>Resources</h3><table>';
        for (const r of v.resources) inner += '<tr><td>' + esc(r.name) + '</td><td>' + dot(RES_COLOUR[r.state] || 'var(--grey)') + esc(r.state) + '</td></tr>';
        inner += '</table>';
      }
      if (v.peers.length) {
        inner += '<h3>Peers — last heartbeat per LAN</h3><table><tr><th>node</th><th>state</th><th>heartbeat</th></tr>';
        for (const p of v.peers) {
          const st = p.alive ? dot('var(--' + colour(p.state, p.ready, p.rule) + ')') + esc(p.state) + (p.ready ? '' : ' ' + readiness(p.state, p.ready, p.rule)) : 'offline';
          const hb = p.lans.map(([lan, ms]) => esc(lan) + ' ' + esc(fmtMs(ms))).join('<br>') || '—';
          inner += '<tr><td>' + esc(p.name) + '</td><td' + (p.alive ? '' : ' class="dead"') + '>' + st + '</td><td>' + hb + '</td></tr>';
        }
        inner += '</table>';
      }
      if (v.log !== null) {
        inner += '<h3>Module log</h3><pre class="log">' + (v.log.slice(-LOG_LINES).map(esc).join('\n') || '(empty)') + '</pre>';
      }
      body += down ? '<div class="body stale">' + inner + '</div>' : inner;
    }
    const dis = down ? ' disabled' : '';
    let foot = '<footer class="actions">';
    for (const verb of ['start', 'stop', 'restart']) {
      foot += '<button type="button" data-verb="' + verb + '"' + dis + '>' + verb[0].toUpperCase() + verb.slice(1) + '</button>';
    }
    foot += '<span class="msg' + (entry.msgBad ? ' bad' : '') + '">' + esc(entry.msg || '') + '</span></footer>';
    return head + '<div class="body">' + body + '</div>' + foot;
  }

  function hostOf(peer) {
    if (!peer) return 'this node';
    try { return new URL(peer).host; } catch (e) { return peer; }
  }

  function apiURL(peer, module) {
    return (peer || '') + '/api/v1/modules/' + encodeURIComponent(module);
  }

  // ---- browser part ----

  function start() {
    const state = { cfg: null, modules: [], entries: new Map(), html: new Map(), discoveredAt: 0, timer: 0 };

    async function getJSON(url, timeoutMs) {
      const ctl = new AbortController();
      const t = setTimeout(() => ctl.abort(), timeoutMs);
      try {
        const r = await fetch(url, { signal: ctl.signal, cache: 'no-store', credentials: 'omit' });
        if (!r.ok) throw new Error('HTTP ' + r.status + ' ' + r.statusText);
        return await r.json();
      } catch (e) {
        if (e.name === 'AbortError') throw new Error('no answer within ' + timeoutMs + ' ms');
        throw new Error(e.message || String(e));
      } finally {
        clearTimeout(t);
      }
    }

    function timeoutMs() {
      return Math.max(800, Math.min(3000, 2 * state.cfg.poll_ms));
    }

    async function discover() {
      const names = [];
      await Promise.all(state.cfg.peers.map(async (p) => {
        try {
          for (const n of moduleNames(await getJSON((p || '') + '/api/v1/modules', timeoutMs()))) if (!names.includes(n)) names.push(n);
        } catch (e) { /* an unreachable peer is shown by its card */ }
      }));
      return names.sort();
    }

    function entry(i, module) {
      const key = i + '|' + module;
      let e = state.entries.get(key);
      if (!e) {
        e = { peer: state.cfg.peers[i], name: state.cfg.names[i] || '', view: null, error: null, at: 0, msg: '', msgBad: false };
        state.entries.set(key, e);
      }
      return e;
    }

    async function pollOne(i, module) {
      const e = entry(i, module);
      try {
        e.view = normalise(await getJSON(apiURL(e.peer, module), timeoutMs()));
        e.error = null;
        e.at = Date.now();
      } catch (err) {
        e.error = err.message;
      }
    }

    async function poll() {
      clearTimeout(state.timer);
      try {
        if (state.cfg.modules.length) {
          state.modules = state.cfg.modules;
        } else if (!state.modules.length || Date.now() - state.discoveredAt > 30000) {
          state.modules = await discover();
          state.discoveredAt = Date.now();
        }
        const jobs = [];
        for (const m of state.modules) state.cfg.peers.forEach((_, i) => jobs.push(pollOne(i, m)));
        await Promise.all(jobs);
        render();
      } finally {
        state.timer = setTimeout(poll, state.cfg.poll_ms);
      }
    }

    function render() {
      const main = document.getElementById('farm');
      const sig = state.modules.join('\n');
      if (main.dataset.sig !== sig) {
        main.dataset.sig = sig;
        state.html.clear();
        main.innerHTML = state.modules.map((m) => '<section class="module"><h2>Module ' + esc(m) + '</h2><div class="cards">' +
          state.cfg.peers.map((_, i) => '<article class="card" data-peer="' + i + '" data-module="' + esc(m) + '"></article>').join('') +
          '</div></section>').join('') || '<p class="loading">No node lists any module yet.</p>';
      }
      let up = 0;
      let total = 0;
      for (const m of state.modules) {
        const entries = state.cfg.peers.map((_, i) => entry(i, m));
        const views = entries.filter((e) => e.view && !e.error).map((e) => e.view);
        const colours = nodeColours(entries.filter((e) => e.view).map((e) => e.view));
        entries.forEach((e, i) => {
          total++;
          if (!e.error && e.view) up++;
          const el = main.querySelector('article.card[data-peer="' + i + '"][data-module="' + CSS.escape(m) + '"]');
          if (!el) return;
          const html = cardHTML(e, views, colours, m);
          if (state.html.get(i + '|' + m) === html) return;
          state.html.set(i + '|' + m, html);
          el.innerHTML = html;
          const log = el.querySelector('pre.log');
          if (log) log.scrollTop = log.scrollHeight;
        });
      }
      const st = document.getElementById('status');
      st.textContent = 'updated ' + new Date().toLocaleTimeString() + ' · ' + up + '/' + total + ' answering';
      st.classList.toggle('bad', up < total);
    }

    function askToken(why) {
      const dlg = document.getElementById('token-dialog');
      const input = document.getElementById('token-input');
      document.getElementById('token-why').textContent = why;
      input.value = '';
      return new Promise((resolve) => {
        dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok' ? input.value.trim() : ''), { once: true });
        dlg.showModal();
      });
    }

    async function act(i, module, verb) {
      const e = entry(i, module);
      const node = e.view ? e.view.node : e.name || hostOf(e.peer);
      const say = (msg, bad) => { e.msg = msg; e.msgBad = bad; render(); };
      if (verb !== 'start' && !window.confirm(verb[0].toUpperCase() + verb.slice(1) + ' module ' + module + ' on ' + node + '?')) return;
      let token = sessionStorage.getItem(TOKEN_KEY);
      if (!token) {
        token = await askToken('Admin token to ' + verb + ' ' + module + ' on ' + node);
        if (!token) return;
      }
      say(verb + ' sent…', false);
      try {
        const r = await fetch(apiURL(e.peer, module) + '/' + verb, {
          method: 'POST', cache: 'no-store', credentials: 'omit', headers: { Authorization: 'Bearer ' + token },
        });
        if (r.status === 401 || r.status === 403) {
          sessionStorage.removeItem(TOKEN_KEY);
          say('token refused by ' + node + ' (HTTP ' + r.status + ')', true);
          return;
        }
        if (!r.ok) {
          let detail = r.statusText;
          try { detail = (await r.json()).error || detail; } catch (err) { /* not JSON */ }
          say(verb + ' failed: HTTP ' + r.status + ' ' + detail, true);
          return;
        }
        sessionStorage.setItem(TOKEN_KEY, token);
        say(verb + ' accepted', false);
        poll();
      } catch (err) {
        say(verb + ' not sent: ' + (err.message || err), true);
      }
    }

    document.getElementById('farm').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-verb]');
      const card = b && b.closest('article.card');
      if (!card || b.disabled) return;
      act(Number(card.dataset.peer), card.dataset.module, b.dataset.verb);
    });
    document.getElementById('forget').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      document.getElementById('status').textContent = 'admin token forgotten';
    });

    fetch('console/config.json', { cache: 'no-store' })
      .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then((cfg) => {
        if (cfg.error) throw new Error(cfg.error);
        state.cfg = { title: cfg.title || 'vipfarm', peers: cfg.peers || [''], names: cfg.names || [], modules: cfg.modules || [], poll_ms: cfg.poll_ms || 1000 };
        document.title = state.cfg.title + ' console';
        document.getElementById('title').textContent = state.cfg.title;
        poll();
      })
      .catch((err) => {
        document.getElementById('farm').innerHTML = '<p class="fatal">Console configuration: ' + esc(err.message || err) + '</p>';
      });
  }

  const api = { normalise, colour, readiness, moduleNames, ownersOf, nodeColours, cardHTML, shareOf, esc, fmtMs };
  if (typeof module === 'object' && module.exports) module.exports = api;
  if (typeof document !== 'undefined') start();
})();
