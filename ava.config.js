// Two runs (package.json "test"): the specs, then the heavy ones — the packaging specs, which
// compile the package and its docs many times over, and the Chromium specs, whose browser start
// takes both cores for a while — which would load the machine under the timing-sensitive lock
// and connection specs (a 1 s connect timeout missed while Chromium starts).
const heavy = ['spec/package/**/*.spec.ts', 'spec/docs.spec.ts', 'spec/**/*browser.spec.ts'];
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
