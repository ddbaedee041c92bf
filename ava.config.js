module.exports = {
  files: ['spec/**/*.spec.ts'],
  typescript: {
    rewritePaths: { 'spec/': 'build/spec/' },
    compile: false,
  },
  timeout: '60s',
  workerThreads: false,
};
