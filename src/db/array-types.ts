/**
 * The two PostgreSQL array types the service sends and reads (text[], bigint[]), given to postgres.js statically
 * so that no connection has to fetch array types from pg_type (fetch_types: false). That fetch runs as the first
 * statement of every new connection, and postgres.js 3.4.9 drops its promise: a connection cut while it runs (a
 * PostgreSQL restart, a network blip) becomes an unhandled rejection that ends the API or the worker at the very
 * moment the webhook path must keep answering (porsager/postgres#1192, #1205, #1223; found by the chaos test).
 * Static types also end the race with a pool's first query that carries an array.
 */
export const TEXT_ARRAY_OID = 1009;
export const BIGINT_ARRAY_OID = 1016;

/** A one-dimensional array literal with every element quoted: `{"a","b \"c\""}`; null is NULL. */
export function serializeArray(values: readonly unknown[]): string {
  return `{${values.map((v) => (v === null || v === undefined ? 'NULL' : `"${String(v).replace(/[\\"]/g, '\\$&')}"`)).join(',')}}`;
}

/** Parses PostgreSQL's text output of a one-dimensional array: `{a,"b c",NULL}` (quotes and backslash escapes). */
export function parseArray(text: string): (string | null)[] {
  const out: (string | null)[] = [];
  if (text === '{}') return out;
  let i = 1;
  while (i < text.length) {
    if (text[i] === '"') {
      let value = '';
      for (i++; text[i] !== '"'; i++) value += text[i] === '\\' ? text[++i] : text[i];
      out.push(value);
      i++;
    } else {
      let end = i;
      while (text[end] !== ',' && text[end] !== '}') end++;
      const raw = text.slice(i, end);
      out.push(raw === 'NULL' ? null : raw);
      i = end;
    }
    if (text[i] === '}') break;
    i++;
  }
  return out;
}

/** postgres.js `types` entries for them. */
export const ARRAY_TYPES = {
  textArray: { to: TEXT_ARRAY_OID, from: [TEXT_ARRAY_OID], serialize: serializeArray, parse: parseArray },
  bigintArray: {
    to: BIGINT_ARRAY_OID,
    from: [BIGINT_ARRAY_OID],
    serialize: serializeArray,
    parse: (text: string) => parseArray(text).map((v) => (v === null ? null : Number(v))),
  },
};
