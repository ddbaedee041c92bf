import test from 'ava';
import { Redis } from 'ioredis';
import { Wakeups } from '../../lib/redis/Wakeups';
import { useRedis } from '../helpers/redisServer';

const redis = useRedis(test);

/** A listening Wakeups on a private server, and a publisher, closed after the test. */
async function setup(t: { teardown(fn: () => unknown): void }) {
  const client = new Redis({ port: redis().port, lazyConnect: true });
  const publisher = new Redis({ port: redis().port, lazyConnect: true });
  await Promise.all([client.connect(), publisher.connect()]);
  const wakeups = new Wakeups(client);
  t.teardown(async () => {
    await wakeups.close();
    client.disconnect();
    publisher.disconnect();
  });
  return { wakeups, publisher };
}

/** Publish a release to the one subscriber, and give it time to arrive before anyone waits. */
async function publishHeard(publisher: Redis, channel: string): Promise<void> {
  const receivers = await publisher.publish(channel, 'released');
  if (receivers !== 1) throw new Error(`expected one subscriber, found ${receivers}`);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the message reaches the subscriber's socket
}

test('Wakeups › a release published while no wait() is armed wakes the next wait() at once', async (t) => {
  const { wakeups, publisher } = await setup(t);
  const listener = await wakeups.listen('sess-{a}.lock');
  t.teardown(() => listener.close());
  await publishHeard(publisher, 'sess-{a}.lock'); // between a refused try and the next wait
  const started = performance.now();
  await listener.wait(5000);
  const waited = performance.now() - started;
  t.true(waited < 1000, `waited ${Math.round(waited)} ms for a release already heard`);
});

test('Wakeups › a release wakes a wait() in progress; without one, wait() sleeps its pause', async (t) => {
  const { wakeups, publisher } = await setup(t);
  const listener = await wakeups.listen('sess-{b}.lock');
  t.teardown(() => listener.close());
  const pause = performance.now();
  await listener.wait(300);
  t.true(performance.now() - pause >= 290, 'nothing heard: the whole pause');
  const started = performance.now();
  const waiting = listener.wait(5000);
  await publisher.publish('sess-{b}.lock', 'released');
  await waiting;
  t.true(performance.now() - started < 1000);
});
