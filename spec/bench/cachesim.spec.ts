// bench/extras/callgrind.ts (for cachesim.ts and layer.ts --count functions) reads callgrind's files itself to split a request's instructions into
// the collector's, the compilers' and the rest: its reading of the format (names given once on an
// fn= or cfn= line and then by number, the cost of a call not counted in the caller) is checked here
// on a small file of that format.
import test from 'ava';
import { instructionsByFunction, instructionsByPart, jitNamer, kindOf } from '../../bench/extras/callgrind';

const FILE = `# callgrind format
version: 1
positions: line
events: Ir Dr
summary: 120 12

ob=(1) /usr/bin/node
fl=(1) ???
fn=(1) v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)
0 10 1
cfn=(2) v8::internal::compiler::PipelineImpl::OptimizeGraph(v8::internal::compiler::Linkage*)
calls=1 0
0 50 5
+1 4
fn=(2)
0 30 3
fn=(3) Builtins_LoadIC
+2 20 1
* 5
-1 5
fn=(1)
0 2
fn=(4) 0x000000000d093d80
0 40
`;

test('instructions by part: self costs only (a call line is the callee\'s), names given once and then by number', (t) => {
  t.deepEqual(instructionsByPart(FILE, ['Ir', 'Dr']), { gc: 16, compile: 30 });
});

test('instructions by part: the Ir column is found by its name among the events', (t) => {
  t.deepEqual(instructionsByPart(FILE.replace('events: Ir Dr', 'events: Dr Ir'), ['Dr', 'Ir']), { gc: 1, compile: 3 });
});

test('instructions by function: each function\'s self cost, the cost of its calls left to the callees', (t) => {
  const sums = instructionsByFunction(FILE, ['Ir', 'Dr']);
  t.is(sums.get('Builtins_LoadIC'), 30);
  t.is(sums.get('0x000000000d093d80'), 40);
  t.is(sums.get('v8::internal::compiler::PipelineImpl::OptimizeGraph(v8::internal::compiler::Linkage*)'), 30);
  t.is([...sums.values()].reduce((a, b) => a + b, 0), 116);
});

test('JIT names: an address inside a perf-map entry gets its function (tier mark, line and build directory dropped); others stay', (t) => {
  const name = jitNamer('d093000 1000 JS:*open /work/main/build-bench/v2/lib/manager/StoredSession.js:70:15\nd095000 20 RegExp:^[a-z]+$\n');
  t.is(name('0x000000000d093d80'), 'JIT open lib/manager/StoredSession.js');
  t.is(name('0x000000000d095010'), 'JIT RegExp:^[a-z]+$');
  t.is(name('0x000000000d095020'), 'JIT (unknown)', 'past the end of the last entry');
  t.is(name('0x00000000000a57f0'), '0x00000000000a57f0', 'an offset in a library without symbols');
  t.is(name('Builtins_LoadIC'), 'Builtins_LoadIC');
  const copy = jitNamer('d093000 1000 JS:^open /work/main/build-bench/baseline-lib/manager/StoredSession.js:70:15\n');
  t.is(copy('0x000000000d093d80'), 'JIT open lib/manager/StoredSession.js', "a copy of the library (--baseline) names its functions alike");
  const koa = jitNamer('d093000 1000 JS:*set type /work/main/node_modules/koa/lib/response.js:399:12\n');
  t.is(koa('0x000000000d093d80'), 'JIT set type /work/main/node_modules/koa/lib/response.js', "a package's lib/ is not ours");
  t.is(kindOf(koa('0x000000000d093d80')), 'JavaScript: others');
  t.is(kindOf(copy('0x000000000d093d80')), 'JavaScript: ours');
});
