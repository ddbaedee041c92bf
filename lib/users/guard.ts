import type { Manager, SessionGuard } from '../Manager';
import { emit } from '../manager/emit';
import { SESSION_DATA } from '../manager/internal';
import { tagOf, type BoundUser, type IndexRecord, type UserIndex } from './UserIndex';

/** Read-only refreshes remembered per process (by session tag), at most this many. */
const REFRESHED_MAX = 10_000;

/**
 * True when `e` ("log out everywhere" at) ended the session bound as `bound`, or its entry was
 * ended. A binding in the very millisecond of `e` counts as before it (a sign-in and a "log out
 * everywhere" one millisecond apart cannot be ordered: the safe answer ends it); `k`, the end
 * a session ran itself ("sign out other devices"), is that very `e` and keeps it.
 */
function endedBy(record: IndexRecord, id: string, bound: BoundUser): boolean {
  const e = record.e;
  const ended = e !== undefined && e >= bound.b && !(bound.k !== undefined && bound.k >= e);
  return ended || record.s[id]?.x === 1;
}

/**
 * The lifecycle guard of `UserSessions`: keeps each bound session's index entry, and so the
 * index record, alive as long as the session, and ends at its commit a sign-in that "log out
 * everywhere" (or the cap) ended while it was in flight.
 *
 * - At a commit: (re)index the session when its id changed (sign-in, `regenerateId()`) or its
 *   entry is older than the idle lifetime (the index lives two). A failure fails a sign-in
 *   (an unindexed session would escape "log out everywhere"), and only reports a refresh.
 * - At the start of a read-only request on a store that extends a session's life when it reads
 *   it (Redis, SQL: `touchesOnRead`): refresh a stale entry too (at most once per lifetime and
 *   process), since no commit will.
 */
export function userGuard(index: UserIndex): SessionGuard<Manager> {
  const { adapter, lifetime, events } = index.setup;
  const lifetimeMs = lifetime * 1000;
  const refreshed = new Map<string, number>();

  const report = (session: Manager, id: string, error: unknown) =>
    emit(events, 'session:storeError', { id, operation: 'user index', error }, session, null);

  /** Write this session's entry (pruning entries two lifetimes stale); resolves false when it was ended. */
  const reindex = (session: Manager, id: string, bound: BoundUser, now: number): Promise<boolean> =>
    index.update(bound.id, (record) => {
      if (endedBy(record, id, bound)) {
        delete record.s[id];
        return false;
      }
      record.s[id] = { b: bound.b, r: now, ...(bound.i !== undefined ? { i: bound.i } : {}) };
      for (const [sid, other] of Object.entries(record.s)) if (now - other.r > 2 * lifetimeMs) delete record.s[sid];
      return true;
    });

  /** The session's binding and where its index entry stands; undefined for a session without a user. */
  const stateOf = (session: Manager) => {
    const data = session[SESSION_DATA]();
    const bound = index.boundIn(data);
    if (bound === undefined) return undefined;
    const id = session.getId();
    const tag = tagOf(id);
    const now = Date.now();
    const moved = bound.sid !== tag;
    return { data, bound, id, tag, now, moved, fresh: !moved && now - bound.at < lifetimeMs };
  };

  return {
    async started(session) {
      if (!session.getPolicy().readOnly || !adapter.touchesOnRead) return;
      const state = stateOf(session);
      if (state === undefined || state.fresh) return;
      const { data, bound, id, tag, now } = state;
      if (now - (refreshed.get(tag) ?? 0) < lifetimeMs) return;
      refreshed.delete(tag);
      refreshed.set(tag, now);
      if (refreshed.size > REFRESHED_MAX) refreshed.delete(refreshed.keys().next().value!);
      try {
        // Ended meanwhile: this read-only request sees an empty session (its next writable one is destroyed).
        if (!await reindex(session, id, bound, now)) for (const key in data) delete data[key];
      } catch (error) {
        report(session, id, error);
      }
    },

    async committing(session) {
      const state = stateOf(session);
      if (state === undefined || state.fresh) return;
      const { data, bound, id, tag, now, moved } = state;
      let kept: boolean;
      try {
        kept = await reindex(session, id, bound, now);
      } catch (error) {
        if (moved) throw error;
        report(session, id, error);
        return;
      }
      if (!kept) await session.destroy();
      else data[index.key] = { ...bound, sid: tag, at: now };
    },
  };
}
