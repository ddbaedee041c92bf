// The session pool: one session per wrk connection, made before the measured rounds by asking
// /inc once without a cookie and keeping what Set-Cookie gave back.

const FETCH_TIMEOUT_MS = 5000;

async function get(url: string, cookie?: string): Promise<Response> {
  const response = await fetch(url, {
    headers: cookie ? { cookie } : {},
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  return response;
}

/** `count` fresh sessions of the server at `base`, as Cookie header values ('' for a server without sessions). */
export async function makeSessions(base: string, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await get(`${base}/inc`);
    await response.text();
    const pairs = response.headers.getSetCookie().map((header) => header.split(';')[0].trim());
    cookies.push(pairs.join('; '));
  }
  return cookies;
}

/** GET `path` with `cookie` and resolve the body (a number for both routes of every contender). */
export async function readCount(base: string, path: string, cookie: string): Promise<number> {
  return Number(await (await get(`${base}${path}`, cookie || undefined)).text());
}
