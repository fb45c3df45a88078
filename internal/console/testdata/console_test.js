// Unit test of the console's pure functions, run by console_test.go with Node.js.
'use strict';
const assert = require('assert');
const c = require('../assets/console.js');

// SPEC §3 colours.
assert.strictEqual(c.colour('UP', true), 'green');
assert.strictEqual(c.colour('UP', false), 'orange');
assert.strictEqual(c.colour('WAIT', false), 'orange');
assert.strictEqual(c.colour('WAIT', false, ''), 'orange');
assert.strictEqual(c.colour('WAIT', false, 'interface_failure'), 'red');
assert.strictEqual(c.colour('WAIT', true), 'red');
assert.strictEqual(c.readiness('WAIT', false, 'interface_failure'), 'not ready');
assert.strictEqual(c.readiness('WAIT', false, ''), 'transient');
assert.strictEqual(c.colour('STOP', true), 'red');
assert.strictEqual(c.colour('STOP', false), 'red');

// Share rounding as core: 128 -> 50, 86 -> 34, 85 -> 33, 1 -> 0, 2 -> 1.
assert.deepStrictEqual([128, 86, 85, 1, 2, 256].map(c.shareOf), [50, 34, 33, 0, 1, 100]);

// A console.ModuleView.
const a = c.normalise({
  node: 'node1', module: 'AM', state: 'UP', ready: true,
  resources: [{ name: 'intf.198.18.0.0', state: 'up' }],
  groups: [{ name: 'FarmProto', share: 50, owned: [0, 2], owners: Array.from({ length: 256 }, (_, b) => (b % 2 ? 'node2' : 'node1')) }],
  peers: [{ name: 'node2', alive: true, state: 'UP', ready: true, last_heartbeat_ms: { default: 80, private: -1 } }],
  log: ['farm load: 128/256'],
});
assert.strictEqual(a.module, 'AM');
assert.deepStrictEqual(a.peers[0].lans, [['default', 80], ['private', -1]]);
assert.strictEqual(a.groups[0].owners.length, 256);

// farmd's first shape (internal/view.Module): name, lans + last_heard_ms, no owners, no log.
const b = c.normalise({
  name: 'AM', node: 'node2', state: 'WAIT', ready: false, rule: 'interface_failure',
  groups: [{ name: 'FarmProto', buckets: 2, owned: [1, 3, 999] }],
  peers: [{ name: 'node1', alive: false, state: 'UP', ready: true, lans: ['default'], last_heard_ms: [1500] }],
});
assert.strictEqual(b.module, 'AM');
assert.deepStrictEqual(b.groups[0].owned, [1, 3], 'out-of-range buckets are dropped');
assert.strictEqual(b.groups[0].share, 1, 'share derived from owned when absent');
assert.strictEqual(b.groups[0].owners, null);
assert.deepStrictEqual(b.peers[0].lans, [['default', 1500]]);
assert.strictEqual(b.log, null);

// Bad answers are errors, not cards drawn from garbage.
assert.throws(() => c.normalise(null), /not a JSON object/);
assert.throws(() => c.normalise([1]), /not a JSON object/);
assert.throws(() => c.normalise({ state: 'RUNNING' }), /not STOP\|WAIT\|UP/);

// Owners: the node's own table wins; without it, the union of claims, double claims kept.
assert.deepStrictEqual(c.ownersOf(a, 'FarmProto', [a, b])[1], ['node2']);
const d = c.normalise({ node: 'node3', module: 'AM', state: 'UP', ready: true, groups: [{ name: 'FarmProto', owned: [3, 4] }] });
const owners = c.ownersOf(b, 'FarmProto', [b, d]);
assert.deepStrictEqual(owners[1], ['node2']);
assert.deepStrictEqual(owners[3], ['node2', 'node3']);
assert.deepStrictEqual(owners[0], []);

// Module lists: names, views, or {modules: [...]}.
assert.deepStrictEqual(c.moduleNames(['AM', 'BM', 'AM']), ['AM', 'BM']);
assert.deepStrictEqual(c.moduleNames([{ name: 'AM' }, { module: 'BM' }]), ['AM', 'BM']);
assert.deepStrictEqual(c.moduleNames({ modules: ['AM'] }), ['AM']);
assert.deepStrictEqual(c.moduleNames('nope'), []);

// Colours follow first-seen order, cards first.
const col = c.nodeColours([b, a]);
assert.deepStrictEqual([...col.keys()], ['node2', 'node1']);

// Cards: escaping, ERROR state, WAIT rule, disabled buttons when unreachable.
const evil = c.normalise({ node: '<img src=x>', module: 'AM', state: 'STOP', ready: true, log: ['<b>x</b>'] });
let html = c.cardHTML({ peer: 'http://n', view: evil, error: null, at: 0 }, [evil], c.nodeColours([evil]), 'AM');
assert.ok(!html.includes('<img'), 'node name escaped');
assert.ok(html.includes('&lt;b&gt;x&lt;/b&gt;'), 'log escaped');
assert.ok(html.includes('class="st-red"'));
html = c.cardHTML({ peer: 'http://198.18.0.13:9010', name: 'node3', view: null, error: 'no answer within 2000 ms', at: 0 }, [], new Map(), 'AM');
assert.ok(html.includes('<span class="node">node3</span><span class="state">ERROR</span>'));
assert.ok(html.includes('st-red'));
assert.ok(html.includes('198.18.0.13:9010'));
assert.strictEqual((html.match(/ disabled>/g) || []).length, 3);
html = c.cardHTML({ peer: '', view: b, error: null, at: 0 }, [b], c.nodeColours([b]), 'AM');
assert.ok(html.includes('WAIT on failover rule interface_failure'));
assert.ok(html.includes('<header class="st-red">'), 'a WAIT held by a rule is red');
assert.ok(html.includes('<span class="sub">not ready</span>'));
assert.ok(html.includes('offline'));
assert.strictEqual((html.match(/<rect x=/g) || []).length, 256, '16x16 map');
html = c.cardHTML({ peer: '', view: a, error: null, at: 0 }, [a], c.nodeColours([a]), 'AM');
assert.ok(html.includes('class="st-green"'));
assert.ok(html.includes('FarmProto 50%'));
assert.ok(html.includes('default 80 ms<br>private never'));
console.log('console.js: ok');
