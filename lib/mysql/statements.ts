/**
 * The MySQL / MariaDB statements of the session table (InnoDB). Every time is the server's
 * (`NOW(3)`); every duration parameter is in microseconds (`INTERVAL ? MICROSECOND`). The rows
 * are as in PostgreSQL (lib/postgres/statements.ts): a session, a lock on an id with no session
 * yet (`data` NULL), or both. Placeholders are positional (`?`), in the order each names.
 */

/** A live session that is not a move marker (`MOVE_MARKER_PREFIX` as bytes). */
const LIVE = `data IS NOT NULL AND expires_at > NOW(3) AND LEFT(data, 7) <> X'006D6F7665643A'`;
const IN = 'NOW(3) + INTERVAL ? MICROSECOND';

/** A quoted identifier. */
export function quote(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/**
 * The table's SQL. `id` compares byte for byte (ascii_bin: ids are case-sensitive, where
 * MySQL's default collations are not); `data` is a MEDIUMBLOB (up to 16 MiB of any bytes).
 *
 * @example
 * await pool.query(createTableSql('`sessions`', 'sessions'));
 */
export function createTableSql(table: string, bare: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  id              VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  data            MEDIUMBLOB NULL,
  expires_at      DATETIME(3) NOT NULL,
  created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  lock_token      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  lock_expires_at DATETIME(3) NULL,
  INDEX ${quote(`${bare}_expires_at`)} (expires_at)
) ENGINE=InnoDB`;
}

/** The statements of one table (`table` already quoted). */
export function statements(table: string) {
  return {
    /** id; (ttl - slack) µs. `stale`: a live session due for a touch. */
    read: `SELECT data, (${LIVE} AND expires_at < ${IN}) AS stale FROM ${table} WHERE id = ? AND expires_at > NOW(3)`,
    /** ttl µs, id. */
    touch: `UPDATE ${table} SET expires_at = ${IN}, updated_at = NOW(3) WHERE id = ? AND ${LIVE}`,
    /**
     * Take the lock when free or expired: id, expiry µs, token, expiry µs. Right in either
     * assignment order (MySQL's left to right, or MariaDB's SIMULTANEOUS_ASSIGNMENT): the
     * expiry's condition holds both before and after the token is set, and only for the taker.
     */
    lock: `INSERT INTO ${table} (id, data, expires_at, lock_token, lock_expires_at) VALUES (?, NULL, ${IN}, ?, ${IN})
ON DUPLICATE KEY UPDATE
  lock_token = IF(lock_token IS NULL OR lock_expires_at <= NOW(3), VALUES(lock_token), lock_token),
  lock_expires_at = IF(lock_token = VALUES(lock_token) OR lock_token IS NULL OR lock_expires_at <= NOW(3), VALUES(lock_expires_at), lock_expires_at)`,
    /** token, id: whether the token holds the lock, and the live data. */
    lockedRead: `SELECT lock_token = ? AS mine, IF(expires_at > NOW(3), data, NULL) AS data FROM ${table} WHERE id = ?`,
    /** data, ttl µs, id, token, update only (0/1). */
    writeUnlock: `UPDATE ${table} SET data = ?, expires_at = ${IN}, updated_at = NOW(3), lock_token = NULL, lock_expires_at = NULL
WHERE id = ? AND lock_token = ? AND (? = 0 OR (${LIVE}))`,
    /** id, token. */
    holds: `SELECT 1 FROM ${table} WHERE id = ? AND lock_token = ?`,
    /** touch µs (0: none), (touch - slack) µs, touch µs, id, token: release a session's lock, touching it. */
    unlock: `UPDATE ${table} SET lock_token = NULL, lock_expires_at = NULL,
  expires_at = IF(? > 0 AND ${LIVE} AND expires_at < ${IN}, ${IN}, expires_at)
WHERE id = ? AND lock_token = ? AND data IS NOT NULL`,
    /** id, token: release a lock on an id with no session (its row goes). */
    unlockBare: `DELETE FROM ${table} WHERE id = ? AND lock_token = ? AND data IS NULL`,
    /** expiry µs, id, token. */
    renew: `UPDATE ${table} SET lock_expires_at = ${IN} WHERE id = ? AND lock_token = ?`,
    /** id, data, ttl µs. */
    upsert: `INSERT INTO ${table} (id, data, expires_at) VALUES (?, ?, ${IN})
ON DUPLICATE KEY UPDATE data = VALUES(data), expires_at = VALUES(expires_at), updated_at = NOW(3)`,
    /** data, ttl µs, id. */
    update: `UPDATE ${table} SET data = ?, expires_at = ${IN}, updated_at = NOW(3) WHERE id = ? AND ${LIVE}`,
    /** id (in a transaction): the row, locked for the destroy. */
    destroyRead: `SELECT IF(expires_at > NOW(3), data, NULL) AS data, (lock_token IS NOT NULL AND lock_expires_at > NOW(3)) AS locked
FROM ${table} WHERE id = ? FOR UPDATE`,
    /** id: a row whose lock is held keeps the lock, loses the session. */
    destroyKeep: `UPDATE ${table} SET data = NULL, expires_at = NOW(3) WHERE id = ?`,
    /** id. */
    destroyRow: `DELETE FROM ${table} WHERE id = ?`,
    /** id. */
    exists: `SELECT 1 FROM ${table} WHERE id = ? AND data IS NOT NULL AND expires_at > NOW(3)`,
    /** limit: expired rows whose lock is not held, oldest first, through the expiry index. */
    gcBatch: `DELETE FROM ${table} WHERE expires_at <= NOW(3) AND (lock_token IS NULL OR lock_expires_at <= NOW(3)) ORDER BY expires_at LIMIT ?`,
  };
}

export type Statements = ReturnType<typeof statements>;
