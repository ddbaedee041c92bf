import test from 'ava';
import { cookieDue, cookieDueOnRead, ruledMaxAge } from '../../lib/manager/storeCalls';
import type { SessionTransport } from '../../lib/manager/SessionTransport';

/** A transport that remembers one re-sent cookie, and counts how often it is asked. */
function remembering(sentUntil: number) {
  const asked = { count: 0 };
  const transport = {
    sentUntil: () => {
      asked.count++;
      return sentUntil;
    },
  } as unknown as SessionTransport;
  return { transport, asked };
}

test('storeCalls › cookieDueOnRead › answers as the cookie rule over the later of the record\'s expiry and a remembered send, asking the transport only when the record finds the cookie due', (t) => {
  const now = 1_800_000_000_000;
  let seed = 11; // xorshift32: the same cases on every run
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return Math.floor(((seed >>> 0) / 2 ** 32) * n);
  };
  let skipped = 0;
  for (let i = 0; i < 20_000; i++) {
    const ttl = [1, 60, 1800, 3600, 86_400][random(5)]!;
    const longest = ruledMaxAge(ttl) * 1000;
    // The record's expiry: unknown (0), anywhere from past to implausibly late, or near the rule's window.
    const pick = random(5);
    const stored = pick === 0 ? 0 : pick < 3 ? now + random(longest * 2) - longest / 2 : now + ttl * 1000 + random(longest - ttl * 1000 + 2000);
    // A remembered send: none (0), or one the rule made (at most its longest cookie from when it was sent).
    const sent = random(3) === 0 ? 0 : now - random(longest) + random(longest);
    const sentCookie = random(8) === 0 ? 'other' : 'id';
    const { transport, asked } = remembering(Math.min(sent, now + longest));
    const expected = cookieDue(true, sentCookie, 'id', Math.max(stored, Math.min(sent, now + longest)), ttl, now);
    t.is(cookieDueOnRead(transport, sentCookie, 'id', stored, ttl, now), expected, JSON.stringify({ ttl, stored: stored - now, sent: sent - now, sentCookie }));
    if (!cookieDue(true, sentCookie, 'id', stored, ttl, now)) {
      t.is(asked.count, 0, 'not due by the record: the transport is not asked');
      skipped++;
    }
  }
  t.true(skipped > 1000, `${skipped} cases answered by the record alone`);
});

test('storeCalls › cookieDueOnRead › a transport that remembers nothing leaves the record\'s answer', (t) => {
  const now = Date.now();
  const transport = {} as SessionTransport;
  t.true(cookieDueOnRead(transport, 'id', 'id', 0, 3600, now), 'unknown expiry: due');
  t.false(cookieDueOnRead(transport, 'id', 'id', now + ruledMaxAge(3600) * 1000, 3600, now), 'a fresh cookie: not due');
});
