/**
 * fulcrum's own log: one JSON object per line on stderr, with a level filter. Used for lifecycle
 * events and errors, never per successful request (the access log is a separate concern).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let minRank = RANK.info;
let role = 'primary';

export function setLogLevel(level: Level): void {
  minRank = RANK[level];
}

export function setLogRole(r: string): void {
  role = r;
}

function write(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (RANK[level] < minRank) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, pid: process.pid, role, msg, ...fields });
  process.stderr.write(line + '\n');
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};
