/**
 * The PostgreSQL statements of the session table, one round trip each, built once per table.
 * Every time is the server's (`now()`); every duration parameter is in milliseconds. A row is
 * a session (`data` not null, alive while `expires_at > now()`), a lock on an id with no session
 * yet (`data` null: the row is removed when the lock is released), or both.
 *
 * Parameters: $1 id; the others as each statement names them.
 */

/** The stored bytes of every move marker (`MOVE_MARKER_PREFIX`), as a bytea literal. */
const MARKER = `'\\x006d6f7665643a'::bytea`;
const MS = (p: string) => `${p}::float8 * interval '1 millisecond'`;
/** A live session that is not a move marker. */
const LIVE = (t: string) => `${t}.data IS NOT NULL AND ${t}.expires_at > now() AND substring(${t}.data from 1 for 7) <> ${MARKER}`;

/**
 * The table's SQL: what `createTable()` runs and what the docs show. `id` is compared byte for
 * byte (COLLATE "C": ids are case-sensitive); `data` is bytea, as Symfony's PdoSessionHandler
 * keeps it (any serializer's bytes, NUL included).
 *
 * @example
 * await pool.query(createTableSql('"sessions"', 'sessions'));
 */
export function createTableSql(table: string, bare: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  id              varchar(128) COLLATE "C" PRIMARY KEY,
  data            bytea,
  expires_at      timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  lock_token      varchar(64),
  lock_expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS ${quote(`${bare}_expires_at`)} ON ${table} (expires_at)`;
}

/** A quoted SQL identifier. */
export function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The statements of one table (`table` already quoted) and notification channel. */
export function statements(table: string) {
  return {
    /**
     * Read, and touch when the stored expiry is more than the slack short of the new one.
     * $2 ttl ms (0: no touch), $3 slack ms.
     */
    read: `WITH cur AS (SELECT data FROM ${table} WHERE id = $1 AND expires_at > now()),
  touched AS (UPDATE ${table} s SET expires_at = now() + ${MS('$2')}, updated_at = now()
    WHERE s.id = $1 AND $2::float8 > 0 AND ${LIVE('s')} AND s.expires_at < now() + ${MS('($2::float8 - $3::float8)')})
SELECT data FROM cur`,

    /** Take the lock when free or expired, and read, in one statement. $2 token, $3 expiry ms. No row: refused. */
    lockRead: `INSERT INTO ${table} AS s (id, data, expires_at, lock_token, lock_expires_at)
VALUES ($1, NULL, now() + ${MS('$3')}, $2, now() + ${MS('$3')})
ON CONFLICT (id) DO UPDATE SET lock_token = EXCLUDED.lock_token, lock_expires_at = EXCLUDED.lock_expires_at
  WHERE s.lock_token IS NULL OR s.lock_expires_at <= now()
RETURNING CASE WHEN s.expires_at > now() THEN s.data END AS data`,

    /**
     * Write and release, fenced by the token. $2 data, $3 ttl ms, $4 token, $5 update only
     * (a live session that is not a marker), $6 channel. `written` 0: refused (see `holds`).
     */
    writeUnlock: `WITH u AS (UPDATE ${table} s SET data = $2, expires_at = now() + ${MS('$3')}, updated_at = now(),
    lock_token = NULL, lock_expires_at = NULL
  WHERE s.id = $1 AND s.lock_token = $4 AND (NOT $5::boolean OR (${LIVE('s')})) RETURNING 1)
SELECT (SELECT count(*) FROM u)::int AS written, pg_notify($6, $1)::text AS notified`,

    /** Whether token $2 still holds the lock of $1 (after a refused fenced write: gone or lost). */
    holds: `SELECT 1 FROM ${table} WHERE id = $1 AND lock_token = $2`,

    /**
     * Release: a lock-only row is removed; a session's expiry is refreshed as `read` does.
     * $2 token, $3 ttl ms (0: none), $4 slack ms, $5 channel.
     */
    unlock: `WITH gone AS (DELETE FROM ${table} WHERE id = $1 AND lock_token = $2 AND data IS NULL),
  kept AS (UPDATE ${table} s SET lock_token = NULL, lock_expires_at = NULL,
    expires_at = CASE WHEN $3::float8 > 0 AND ${LIVE('s')} AND s.expires_at < now() + ${MS('($3::float8 - $4::float8)')}
      THEN now() + ${MS('$3')} ELSE s.expires_at END
  WHERE s.id = $1 AND s.lock_token = $2 AND s.data IS NOT NULL)
SELECT pg_notify($5, $1)::text AS notified`,

    /** Extend a held lock to $3 ms from now. $2 token. */
    renew: `UPDATE ${table} SET lock_expires_at = now() + ${MS('$3')} WHERE id = $1 AND lock_token = $2`,

    /** Create or replace, unlocked (a held lock stays). $2 data, $3 ttl ms. */
    upsert: `INSERT INTO ${table} AS s (id, data, expires_at) VALUES ($1, $2, now() + ${MS('$3')})
ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at, updated_at = now()`,

    /** Update a live session that is not a marker, unlocked. $2 data, $3 ttl ms. */
    update: `UPDATE ${table} s SET data = $2, expires_at = now() + ${MS('$3')}, updated_at = now() WHERE s.id = $1 AND ${LIVE('s')}`,

    /** Extend a live session that is not a marker. $2 ttl ms. */
    touch: `UPDATE ${table} s SET expires_at = now() + ${MS('$2')}, updated_at = now() WHERE s.id = $1 AND ${LIVE('s')}`,

    /**
     * Remove the session; resolves what it held while alive. A row whose lock is held keeps
     * the lock (its holder then finds the session gone, not its lock lost) and loses the data.
     */
    destroy: `WITH old AS (SELECT id, data, expires_at, lock_token IS NOT NULL AND lock_expires_at > now() AS locked
    FROM ${table} WHERE id = $1 FOR UPDATE),
  d AS (DELETE FROM ${table} s USING old WHERE s.id = old.id AND NOT old.locked),
  k AS (UPDATE ${table} s SET data = NULL, expires_at = now() FROM old WHERE s.id = old.id AND old.locked)
SELECT CASE WHEN expires_at > now() THEN data END AS data FROM old`,

    /** Whether a live session is stored. */
    exists: `SELECT 1 FROM ${table} WHERE id = $1 AND data IS NOT NULL AND expires_at > now()`,

    /** Remove up to $1 expired rows whose lock is not held, oldest first, skipping rows in use. */
    gcBatch: `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table}
  WHERE expires_at <= now() AND (lock_token IS NULL OR lock_expires_at <= now())
  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
  };
}

export type Statements = ReturnType<typeof statements>;
