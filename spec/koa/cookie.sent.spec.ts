import test from 'ava';
import { SentCookies } from '../../lib/koa/cookie';

test('SentCookies › remembers the expiry of the cookie last sent per id; 0 for an id it never saw', (t) => {
  const sent = new SentCookies();
  t.is(sent.get('a'), 0);
  sent.note('a', 1000);
  sent.note('a', 2000);
  t.is(sent.get('a'), 2000, 'the last send counts');
  t.is(sent.size, 1);
});

test('SentCookies › holds at most `limit` ids, forgetting the one noted longest ago', (t) => {
  const sent = new SentCookies(3);
  sent.note('a', 1);
  sent.note('b', 2);
  sent.note('c', 3);
  sent.note('a', 4); // noted again: now the newest
  sent.note('d', 5);
  t.is(sent.size, 3);
  t.is(sent.get('b'), 0, 'b was the oldest note: forgotten');
  t.deepEqual(['a', 'c', 'd'].map((id) => sent.get(id)), [4, 3, 5]);
  for (let i = 0; i < 100; i++) sent.note(`x${i}`, i);
  t.is(sent.size, 3, 'never more than the limit');
  t.is(sent.get('x99'), 99);
});
