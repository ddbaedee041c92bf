import { createApp, sharedStore } from './app';

// REDIS_URL: the Redis PHP's session.save_path names. PORT: another port of the same host as
// the PHP app, so that the browser sends both the one PHPSESSID cookie.
const port = Number(process.env.PORT ?? 3001);
createApp(sharedStore(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')).listen(port, '127.0.0.1', () => {
  console.log(`Koa half on http://127.0.0.1:${port}/api/me (sessions shared with the PHP app)`);
});
