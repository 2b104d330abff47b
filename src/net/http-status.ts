/**
 * Status lines ("404 Not Found"), built once from node's table of reason phrases (RFC 9110
 * section 15). One copy for every writer of a status line: engines, the proxy, the cache and
 * compression, the WebSocket front.
 */
import { STATUS_CODES } from 'node:http';

/** STATUS_LINES[code] is "code reason" for every code node knows. */
export const STATUS_LINES: string[] = [];
for (const [code, text] of Object.entries(STATUS_CODES)) STATUS_LINES[Number(code)] = `${code} ${text}`;

/** statusLine returns "code reason", reusing the table's string when the reason is the standard one. */
export function statusLine(code: number, reason: string): string {
  const std = STATUS_LINES[code];
  if (std !== undefined && std.length === reason.length + 4 && std.endsWith(reason)) return std;
  return reason ? `${code} ${reason}` : `${code} ${STATUS_CODES[code] ?? ''}`.trimEnd();
}
