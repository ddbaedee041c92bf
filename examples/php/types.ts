// What the two halves keep in the session: PHP's $_SESSION['user'] (PHP signs in) and
// $_SESSION['basket'] (Koa fills it), typed for ctx.session.get()/set().
declare module '../../lib/Manager' {
  interface SessionData {
    user: string;
    basket: string[];
  }
}

export {};
