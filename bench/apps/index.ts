import type { AppEnv, RunningApp } from './types';

export type AppFactory = (env: AppEnv) => Promise<RunningApp>;

// Each contender's server loads only the modules of its own app (so its memory and start-up are
// its own): the registry requires an app's file when the contender is asked for.
/* eslint-disable @typescript-eslint/no-require-imports */
const bare = () => require('./bare') as typeof import('./bare');
const raw = () => require('./raw') as typeof import('./raw');
const koaSession = () => require('./koaSession') as typeof import('./koaSession');
const ours = () => require('./ours') as typeof import('./ours');
const express = () => require('./express') as typeof import('./express');
const fastify = () => require('./fastify') as typeof import('./fastify');
const fastifySecure = () => require('./fastifySecure') as typeof import('./fastifySecure');
const iron = () => require('./iron') as typeof import('./iron');

export const APPS: Record<string, () => AppFactory> = {
  'bare-koa': () => () => bare().bareKoa(),
  'raw-ioredis': () => (env) => raw().rawIoredis(env),
  'raw-ioredis-nopipe': () => (env) => raw().rawIoredis(env, false),
  'raw-session': () => (env) => raw().rawSession(env),
  'raw-session-setnx': () => (env) => raw().rawSession(env, 'setnx'),
  'raw-token': () => () => raw().rawToken(),
  'raw-file': () => (env) => raw().rawFile(env),
  'koa-session-cookie': () => (env) => koaSession().koaSessionApp(env, 'cookie'),
  'koa-session-ioredis': () => (env) => koaSession().koaSessionApp(env, 'ioredis'),
  'koa-session-ioredis-ap': () => (env) => koaSession().koaSessionApp(env, 'ioredis-ap'),
  'express-session': () => (env) => express().expressApp(env, 'redis'),
  'bare-express': () => (env) => express().expressApp(env, 'none'),
  'fastify-session': () => (env) => fastify().fastifyApp(env, true),
  'bare-fastify': () => (env) => fastify().fastifyApp(env, false),
  'ours-file': () => (env) => ours().oursApp(env, 'file'),
  'ours-redis': () => (env) => ours().oursApp(env, 'redis'),
  'ours-redis-lock': () => (env) => ours().oursApp(env, 'redis-lock'),
  'ours-postgres-lock': () => (env) => ours().oursApp(env, 'postgres-lock'),
  'express-pg-simple': () => (env) => express().expressApp(env, 'pg'),
  'express-file-store': () => (env) => express().expressApp(env, 'file'),
  'ours-token-signed': () => (env) => ours().oursApp(env, 'token-signed'),
  'ours-token-encrypted': () => (env) => ours().oursApp(env, 'token-encrypted'),
  'ours-token-signed-nocache': () => (env) => ours().oursApp(env, 'token-signed-nocache'),
  'ours-token-signed-jose5': () => (env) => ours().oursApp(env, 'token-signed-jose5'),
  'ours-token-encrypted-jose5': () => (env) => ours().oursApp(env, 'token-encrypted-jose5'),
  'fastify-secure-session': () => () => fastifySecure().fastifySecureApp(),
  'iron-session': () => () => iron().ironApp(),
};
