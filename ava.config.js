// Two runs (package.json "test"): the specs, then the heavy ones — the packaging specs, which
// compile the package and its docs many times over; the Chromium specs, whose browser start
// takes both cores for a while; the token specs, each file a burst of dozens of concurrent
// servers signing and verifying (and files run in name order, so they met the Redis specs) —
// which would load the machine under the timing-sensitive lock and connection specs (a lock
// renewal or a 1 s connect timeout missed); and the store-migration load spec, which keeps both
// cores busy for a minute.
const heavy = ['spec/package/**/*.spec.ts', 'spec/docs.spec.ts', 'spec/**/*browser.spec.ts', 'spec/token/**/*.spec.ts', 'spec/koa/migrating.load.spec.ts'];
const only = process.env.AVA_HEAVY === '1';

module.exports = {
  files: only ? heavy : ['spec/**/*.spec.ts', ...heavy.map((p) => `!${p}`)],
  typescript: {
    rewritePaths: { 'spec/': 'build/spec/' },
    compile: false,
  },
  timeout: '60s',
  workerThreads: false,
};
