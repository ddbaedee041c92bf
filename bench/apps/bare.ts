import Koa from 'koa';
import { listen, routes } from './koaBase';
import type { RunningApp } from './types';

/** Koa with a counter in a variable, no session: the ceiling. */
export function bareKoa(): Promise<RunningApp> {
  const app = new Koa();
  let n = 0;
  routes(app, (ctx) => { ctx.body = String(++n); }, (ctx) => { ctx.body = String(n); });
  return listen(app, []);
}
