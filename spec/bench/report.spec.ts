import test from 'ava';
import { renderReport, type Results } from '../../bench/report';
import { selectContenders } from '../../bench/contenders';

// The report's header says how the servers ran: BENCH_SERVER_FLAGS changes what is measured.

function results(serverFlags?: string): Results {
  return {
    machine: {
      date: '2026-12-08 02:00 UTC', cpus: 2, cpuModel: 'test CPU', node: 'v20', redis: '7.0', wrk: 'wrk 4.1',
      commit: 'abc1234', loadBefore: '1.00', loadAfter: '1.00', serverFlags,
    },
    rounds: 1, duration: 1, warmup: 0, connections: 1, elapsedS: 1,
    contenders: selectContenders(['bare-koa']), samples: [],
    roundTrips: new Map(), rssMb: new Map(), cookieBytes: new Map(), notes: new Map(), contended: [], handoff: [], problems: [],
  };
}

test('report › the header names the servers\' Node flags when BENCH_SERVER_FLAGS set them, and nothing otherwise', (t) => {
  const header = (text: string) => text.split('\n').slice(0, 4).join('\n');
  t.regex(header(renderReport(results('--single-threaded-gc'))), /Every server ran with the Node flags `--single-threaded-gc` \(BENCH_SERVER_FLAGS\)\./);
  t.notRegex(header(renderReport(results(''))), /Node flags/);
  t.notRegex(header(renderReport(results())), /Node flags/);
});
