import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { UnauthorizedError, type Action } from 'routing-controllers';
import type { Account } from './types';

/**
 * The demo users. Their passwords are printed on the sign-in page: this is a demo, not a user
 * store (a real one keeps a slow, salted hash such as scrypt, never a plain SHA-256).
 */
export const DEMO_USERS: ReadonlyArray<Account & { password: string }> = [
  { name: 'alice', role: 'admin', password: 'wonderland' },
  { name: 'bob', role: 'customer', password: 'builder' },
];

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
const HASHES = new Map(DEMO_USERS.map((u) => [u.name, { account: { name: u.name, role: u.role }, hash: digest(u.password) }]));
/** Compared against when the name is unknown, so that case costs the same work. */
const NOBODY = digest('');

/** The account for a name and password, or null; the hashes are compared in constant time. */
export function verify(name: string, password: string): Account | null {
  const user = HASHES.get(name);
  const ok = timingSafeEqual(digest(password), user?.hash ?? NOBODY);
  return ok && user ? { ...user.account } : null;
}

/**
 * routing-controllers' `authorizationChecker` for `@Authorized()` and `@Authorized('admin')`:
 * the account is the one stored in the session at sign-in. Anonymous visitors get a 401
 * (the error page sends them to the sign-in form), signed-in users without the role a 403.
 */
export async function authorizationChecker(action: Action, roles: string[]): Promise<boolean> {
  const { session } = action.context as Context;
  // The session starts lazily (session({ start: 'lazy' })): the checker runs before the action's
  // parameter decorators would start it.
  await session.start();
  const account = session.account;
  if (!account) throw new UnauthorizedError('Sign in to see this page.');
  return roles.length === 0 || roles.includes(account.role);
}
