import type { ExecutionContext } from 'ava';
import type { Adapter } from '../../lib/adapters/Adapter';
import type { MysqlAdapter } from '../../lib/mysql/MysqlAdapter';
import type { PostgresAdapter } from '../../lib/postgres/PostgresAdapter';

/** `adapter`, closed when the test ends. */
export function closing<A extends Adapter>(t: ExecutionContext, adapter: A): A {
  t.teardown(() => adapter.close?.());
  return adapter;
}

/** Tables made in this spec file's process, once per database (createTable is idempotent). */
const tables = new Map<string, Promise<void>>();

/** A database adapter closed after the test, on its table (made once per database and process). */
export async function withTable(t: ExecutionContext, adapter: PostgresAdapter | MysqlAdapter): Promise<Adapter> {
  closing(t, adapter);
  let made = tables.get(adapter.dialect);
  if (made === undefined) tables.set(adapter.dialect, (made = adapter.createTable()));
  await made;
  return adapter;
}
