/**
 * fieldValue reads one field of a request's field list ([name, value, ...], names lowercase), as
 * ClientExchange.field promises: "" when absent, several lines joined with ", " (RFC 9110 5.3),
 * Cookie lines with "; " (RFC 6265 5.4). Shared by the exchanges that keep a plain field list.
 */
export function fieldValue(fields: readonly string[], name: string): string {
  let out: string | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] !== name) continue;
    const v = fields[i + 1]!;
    out = out === undefined ? v : out + (name === 'cookie' ? '; ' : ', ') + v;
  }
  return out ?? '';
}
