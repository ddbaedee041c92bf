// The specs and the bench compile as one program with the examples, whose SessionData
// augmentations declare their keys; specs also use keys of their own ('n', 'cart', …). This
// keeps the declared keys typed and admits the others: the escape hatch SessionTyping offers.
// The strict typing itself is checked in a consumer of the packed package (spec/package),
// where nothing like this is declared.
declare module '../../lib/manager/data' {
  interface SessionTyping {
    anyKey: true;
  }
}
export {};
