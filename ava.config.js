// Two runs (package.json "test"): the specs, then the packaging specs, which compile the package
// and its docs many times over and would load the machine under the timing-sensitive lock specs.
const heavy = ['spec/package/**/*.spec.ts', 'spec/docs.spec.ts'];
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
