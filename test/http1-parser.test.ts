/**
 * The request parser through real sockets: a raw corpus sent to an in-process engine, each case
 * with its exact outcome, either the requests the handler received field by field, or the status
 * the engine answered, the connection closed, and how many requests before it reached the
 * handler (nothing after a framing error is ever parsed). It covers every row of issue 19's table
 * (HTTP/1.0, pipelines, token methods, 49-200 fields, no Host, each malformed head, the duplicate
 * Content-Length with a smuggled request, a chunk longer than its size, chunk extensions, "/q?"),
 * and then the slow cases: slowloris, a slow upload, 100-continue, draining, HTTP/1.0 keep-alive,
 * close-delimited responses, HEAD.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type EngineHarness, echoOf, type HarnessOptions, parseResponses, RawClient, type Seen, startEngine } from './helpers/engine.js';

type Want = Partial<Pick<Seen, 'method' | 'target' | 'httpVersion' | 'fields' | 'body' | 'bodyLength'>>;

interface Case {
  name: string;
  send: string;
  /** what the handler received, in order (checked key by key) */
  requests?: Want[];
  /** the engine's answer after those requests: this status, Connection: close, and the connection closes */
  status?: number;
  /** a request whose head reached the handler, then whose body broke: the handler is told it was aborted, the engine answers `status` in its place */
  cut?: Want;
  /** harness options (a separate engine) */
  opts?: HarnessOptions;
}

const H = 'Host: a.test\r\n';
const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\n${H}${extra}\r\n`;
const fieldsHead = (n: number) => {
  let s = `GET /f HTTP/1.1\r\n${H}`;
  for (let i = 1; i < n; i++) s += `X-F${i}: v${i}\r\n`;
  return s + '\r\n';
};
const chunked = (body: string, extra = '') => `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n${extra}\r\n${body}`;
const host = ['host', 'a.test'];

const CASES: Case[] = [
  // ---- the table's rows -------------------------------------------------------------------
  {
    name: 'HTTP/1.0 with Host (curl -0, ab, nginx proxy_http_version 1.0)',
    send: `GET /x HTTP/1.0\r\n${H}\r\n`,
    requests: [{ method: 'GET', target: '/x', httpVersion: 'HTTP/1.0', fields: host }],
  },
  { name: 'HTTP/1.0 without Host', send: 'GET / HTTP/1.0\r\n\r\n', requests: [{ httpVersion: 'HTTP/1.0', fields: [] }] },
  { name: 'a pipeline of 2 GETs in one write', send: get('/1') + get('/2'), requests: [{ target: '/1' }, { target: '/2' }] },
  { name: 'a pipeline of 3 GETs', send: get('/1') + get('/2') + get('/3'), requests: [{ target: '/1' }, { target: '/2' }, { target: '/3' }] },
  {
    name: 'a pipeline of 10 GETs',
    send: Array.from({ length: 10 }, (_, i) => get(`/${i}`)).join(''),
    requests: Array.from({ length: 10 }, (_, i) => ({ target: `/${i}` })),
  },
  { name: 'PROPFIND', send: `PROPFIND /dav HTTP/1.1\r\n${H}Depth: 1\r\n\r\n`, requests: [{ method: 'PROPFIND', fields: [...host, 'depth', '1'] }] },
  { name: 'PURGE', send: `PURGE /cached HTTP/1.1\r\n${H}\r\n`, requests: [{ method: 'PURGE', target: '/cached' }] },
  { name: 'M-SEARCH', send: `M-SEARCH / HTTP/1.1\r\n${H}\r\n`, requests: [{ method: 'M-SEARCH' }] },
  { name: 'a lowercase token method, kept as sent (methods are case-sensitive)', send: `get / HTTP/1.1\r\n${H}\r\n`, requests: [{ method: 'get' }] },
  { name: 'a method of every tchar', send: `A!#$%&'*+-.^_\`|~9 / HTTP/1.1\r\n${H}\r\n`, requests: [{ method: "A!#$%&'*+-.^_`|~9" }] },
  { name: '49 fields', send: fieldsHead(49), requests: [{ target: '/f' }] },
  { name: '100 fields (the default maxHeaders)', send: fieldsHead(100), requests: [{ target: '/f' }] },
  { name: '101 fields: 431', send: fieldsHead(101), status: 431 },
  { name: '200 fields with maxHeaders 200', send: fieldsHead(200), requests: [{ target: '/f' }], opts: { limits: { maxHeaders: 200, maxHeaderBytes: 65536 } } },
  { name: '201 fields with maxHeaders 200: 431', send: fieldsHead(201), status: 431, opts: { limits: { maxHeaders: 200, maxHeaderBytes: 65536 } } },
  { name: 'no Host on HTTP/1.1: 400', send: 'GET / HTTP/1.1\r\n\r\n' + get('/after'), status: 400 },
  { name: 'two Host fields: 400', send: `GET / HTTP/1.1\r\n${H}${H}\r\n`, status: 400 },
  { name: 'space before the colon: 400', send: `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n` + get('/after'), status: 400 },
  { name: 'NUL in a value: 400', send: `GET / HTTP/1.1\r\n${H}X-A: b\x00c\r\n\r\n` + get('/after'), status: 400 },
  { name: 'bare CR in a value: 400', send: `GET / HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n` + get('/after'), status: 400 },
  { name: 'obs-fold: 400', send: `GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n` + get('/after'), status: 400 },
  { name: 'an invalid field name: 400', send: `GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n` + get('/after'), status: 400 },
  { name: 'a line without a colon: 400', send: `GET / HTTP/1.1\r\n${H}no colon here\r\n\r\n` + get('/after'), status: 400 },
  { name: 'a space in the target: 400', send: `GET /a b HTTP/1.1\r\n${H}\r\n` + get('/after'), status: 400 },
  {
    name: 'Content-Length 5 and 40 with a smuggled request in the body: 400, the second request never parsed',
    send: `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 40\r\n\r\nhello` + get('/smuggled'),
    status: 400,
  },
  {
    name: 'a valid request, then differing Content-Lengths: the first answered, then 400, nothing after',
    send: get('/first') + `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 40\r\n\r\nhello` + get('/smuggled'),
    requests: [{ target: '/first' }],
    status: 400,
  },
  { name: 'a chunk longer than its size: 400', send: chunked('3\r\nhello\r\n0\r\n\r\n') + get('/after'), status: 400, cut: { method: 'POST', target: '/c' } },
  { name: 'a chunk extension', send: chunked('3;x=y\r\nabc\r\n0\r\n\r\n'), requests: [{ method: 'POST', body: 'abc', bodyLength: -1 }] },
  { name: '"/q?" keeps its "?"', send: get('/q?'), requests: [{ target: '/q?' }] },

  // ---- request line ---------------------------------------------------------------------------
  { name: 'a leading empty line is skipped (RFC 9112 2.2)', send: '\r\n' + get('/lead'), requests: [{ target: '/lead' }] },
  { name: 'two leading empty lines', send: '\r\n\r\n' + get('/lead'), requests: [{ target: '/lead' }] },
  {
    name: 'an empty line after a body, before the next request',
    send: `POST /p HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nok\r\n` + get('/next'),
    requests: [{ body: 'ok' }, { target: '/next' }],
  },
  { name: 'query and percent-encoding kept byte for byte', send: get('/a%20b/c?x=1&y=%2F&z'), requests: [{ target: '/a%20b/c?x=1&y=%2F&z' }] },
  {
    name: 'absolute-form: the path is the target and the authority replaces Host',
    send: `GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other.test\r\n\r\n`,
    requests: [{ target: '/p?q=1', fields: ['host', 'example.com:8080'] }],
  },
  {
    name: 'absolute-form without a path: "/"',
    send: `GET http://example.com HTTP/1.1\r\n${H}\r\n`,
    requests: [{ target: '/', fields: ['host', 'example.com'] }],
  },
  { name: 'absolute-form with only a query', send: `GET https://example.com?x=1 HTTP/1.1\r\n${H}\r\n`, requests: [{ target: '/?x=1' }] },
  { name: 'absolute-form, scheme in capitals', send: `GET HTTP://example.com/u HTTP/1.1\r\n${H}\r\n`, requests: [{ target: '/u' }] },
  {
    name: 'absolute-form on HTTP/1.0 without Host adds it',
    send: 'GET http://example.com/u HTTP/1.0\r\n\r\n',
    requests: [{ target: '/u', fields: ['host', 'example.com'] }],
  },
  { name: 'absolute-form with another scheme: 400', send: `GET ftp://example.com/u HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'absolute-form with userinfo: 400', send: `GET http://user:pw@example.com/u HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'absolute-form without a host: 400', send: `GET http:///u HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'OPTIONS *', send: `OPTIONS * HTTP/1.1\r\n${H}\r\n`, requests: [{ method: 'OPTIONS', target: '*' }] },
  { name: 'asterisk-form with GET: 400', send: `GET * HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'CONNECT (authority-form): 405 and close', send: `CONNECT a.test:443 HTTP/1.1\r\n${H}\r\n` + get('/after'), status: 405 },
  { name: 'CONNECT with an origin-form target: 400', send: `CONNECT /x HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'a target that is neither of the four forms: 400', send: `GET a.test/x HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: '"#" in the target: 400 (as HAProxy)', send: `GET /a#frag HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'a byte >= 0x80 in the target: 400', send: `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'a control character in the target: 400', send: `GET /a\x01b HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'HTTP/1.2: 505', send: `GET / HTTP/1.2\r\n${H}\r\n`, status: 505 },
  { name: 'HTTP/2.0 in a request line: 505', send: `GET / HTTP/2.0\r\n${H}\r\n`, status: 505 },
  { name: 'HTTP/0.9 style (no version): 400', send: 'GET /\r\n\r\n', status: 400 },
  { name: 'a lowercase protocol name: 400', send: `GET / http/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'two spaces after the method: 400', send: `GET  / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'a tab instead of a space: 400', send: `GET\t/ HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'a space after the version: 400', send: `GET / HTTP/1.1 \r\n${H}\r\n`, status: 400 },
  { name: 'an invalid character in the method: 400', send: `GE(T / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'no method: 400', send: ` / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'bare LF line ends: 400', send: 'GET / HTTP/1.1\nHost: a.test\n\n', status: 400 },
  { name: 'a bare LF after the fields: 400', send: `GET / HTTP/1.1\r\n${H}\n`, status: 400 },

  // ---- fields -----------------------------------------------------------------------------
  {
    name: 'names lowercased, order and duplicates kept, values trimmed of OWS',
    send: `GET / HTTP/1.1\r\n${H}X-One:  a \r\nAccept: */*\r\nx-one:\tb\t\r\n\r\n`,
    requests: [{ fields: [...host, 'x-one', 'a', 'accept', '*/*', 'x-one', 'b'] }],
  },
  { name: 'a tab inside a value is kept', send: get('/', 'X-T: a\tb\r\n'), requests: [{ fields: [...host, 'x-t', 'a\tb'] }] },
  { name: 'an empty value', send: get('/', 'X-E:\r\n'), requests: [{ fields: [...host, 'x-e', ''] }] },
  { name: 'a UTF-8 value', send: get('/', 'X-U: caf\xc3\xa9\r\n'), requests: [{ fields: [...host, 'x-u', 'café'] }] },
  { name: 'a value that is not UTF-8: 400', send: get('/', 'X-U: caf\xe9\r\n'), status: 400 },
  { name: 'DEL in a value: 400', send: get('/', 'X-D: a\x7fb\r\n'), status: 400 },
  { name: 'a whitespace-only first field line: 400', send: `GET / HTTP/1.1\r\n \r\n${H}\r\n`, status: 400 },
  { name: 'an empty field name: 400', send: get('/', ': v\r\n'), status: 400 },
  { name: 'Host with a port', send: `GET / HTTP/1.1\r\nHost: a.test:8080\r\n\r\n`, requests: [{ fields: ['host', 'a.test:8080'] }] },
  { name: 'Host as an IPv6 literal', send: `GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n`, requests: [{ fields: ['host', '[::1]:80'] }] },
  { name: 'an empty Host: 400 (as nginx)', send: 'GET / HTTP/1.1\r\nHost:\r\n\r\n', status: 400 },
  { name: 'Host with a space: 400', send: 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', status: 400 },
  { name: 'Host with a slash: 400', send: 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', status: 400 },
  { name: 'Expect: 100-continue on a request without a body', send: get('/', 'Expect: 100-continue\r\n'), requests: [{ target: '/' }] },
  { name: 'an unknown expectation: 417', send: get('/', 'Expect: teapot\r\n') + get('/after'), status: 417 },
  { name: 'an unknown expectation on HTTP/1.0 is ignored', send: `GET / HTTP/1.0\r\nExpect: teapot\r\n\r\n`, requests: [{ httpVersion: 'HTTP/1.0' }] },
  {
    name: 'Connection: close: answered, and the request after it is not parsed',
    send: get('/1', 'Connection: close\r\n') + get('/2'),
    requests: [{ target: '/1' }],
  },

  // ---- framing ----------------------------------------------------------------------------
  { name: 'a Content-Length body', send: `POST /p HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`, requests: [{ body: 'hello', bodyLength: 5 }] },
  { name: 'Content-Length "5, 5": 400 (one value only, as nginx)', send: `POST /p HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, status: 400 },
  {
    name: 'two equal Content-Length fields: 400 (as nginx)',
    send: `POST /p HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello` + get('/after'),
    status: 400,
  },
  { name: 'a Content-Length beyond 2^53: 400', send: `POST /p HTTP/1.1\r\n${H}Content-Length: 9007199254740992\r\n\r\n`, status: 400 },
  {
    name: 'a Content-Length of 1e9 bytes or more: 413 against maxBodyBytes, not refused as a number',
    send: `POST /p HTTP/1.1\r\n${H}Content-Length: 1000000000\r\n\r\n`,
    status: 413,
  },
  { name: 'Content-Length 0', send: `POST /p HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`, requests: [{ body: '', bodyLength: 0 }] },
  {
    name: 'a GET with a body',
    send: `GET /g HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc` + get('/n'),
    requests: [{ method: 'GET', body: 'abc' }, { target: '/n' }],
  },
  { name: 'Content-Length "+5": 400', send: `POST /p HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, status: 400 },
  { name: 'Content-Length "-1": 400', send: `POST /p HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, status: 400 },
  { name: 'Content-Length "0x5": 400', send: `POST /p HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, status: 400 },
  { name: 'an empty Content-Length: 400', send: `POST /p HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, status: 400 },
  { name: 'Content-Length "5, 6": 400', send: `POST /p HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello`, status: 400 },
  {
    name: 'Content-Length above maxBodyBytes: 413',
    send: `POST /p HTTP/1.1\r\n${H}Content-Length: 11\r\n\r\nhello world`,
    status: 413,
    opts: { limits: { maxBodyBytes: 10 } },
  },
  { name: 'Transfer-Encoding with Content-Length: 400', send: chunked('3\r\nabc\r\n0\r\n\r\n', 'Content-Length: 3\r\n'), status: 400 },
  { name: 'Transfer-Encoding on HTTP/1.0: 400', send: `POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, status: 400 },
  { name: 'Transfer-Encoding gzip alone: 400', send: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, status: 400 },
  { name: 'Transfer-Encoding "chunked, gzip": 400', send: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, status: 400 },
  { name: 'Transfer-Encoding "gzip, chunked": 501', send: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, status: 501 },
  { name: 'chunked twice: 400', send: chunked('0\r\n\r\n', 'Transfer-Encoding: chunked\r\n'), status: 400 },
  { name: 'an empty Transfer-Encoding: 400', send: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n`, status: 400 },
  {
    name: 'Transfer-Encoding "Chunked" (any case)',
    send: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n`,
    requests: [{ body: 'z' }],
  },
  {
    name: 'several chunks, hex sizes in both cases, leading zeros',
    send: chunked('3\r\nabc\r\nA\r\n0123456789\r\n00a\r\nabcdefghij\r\n0\r\n\r\n'),
    requests: [{ body: 'abc0123456789abcdefghij' }],
  },
  { name: 'an invalid chunk size: 400', send: chunked('zz\r\nabc\r\n0\r\n\r\n'), status: 400, cut: { method: 'POST', target: '/c' } },
  { name: 'a space after the chunk size: 400', send: chunked('3 \r\nabc\r\n0\r\n\r\n'), status: 400, cut: { method: 'POST', target: '/c' } },
  { name: 'a quoted chunk extension with BWS', send: chunked('3 ; name = "va\\"l ue"\r\nabc\r\n0;last\r\n\r\n'), requests: [{ body: 'abc' }] },
  { name: 'a chunk extension without a name: 400', send: chunked('3;=y\r\nabc\r\n0\r\n\r\n'), status: 400, cut: { method: 'POST', target: '/c' } },
  { name: 'a chunk extension without a value after "=": 400', send: chunked('3;x=\r\nabc\r\n0\r\n\r\n'), status: 400, cut: { method: 'POST', target: '/c' } },
  { name: 'a chunk shorter than its size: 400', send: chunked('5\r\nabc\r\n0\r\n\r\n'), status: 400, cut: { method: 'POST', target: '/c' } },
  { name: 'a bare LF after a chunk size: 400', send: chunked('3\nabc\r\n0\r\n\r\n'), status: 400, cut: { method: 'POST', target: '/c' } },
  {
    name: 'trailer fields are dropped',
    send: chunked('3\r\nabc\r\n0\r\nX-Trailer: v\r\n\r\n') + get('/n'),
    requests: [{ body: 'abc', fields: [...host, 'transfer-encoding', 'chunked'] }, { target: '/n' }],
  },
  { name: 'an invalid trailer field: 400', send: chunked('3\r\nabc\r\n0\r\nX Trailer: v\r\n\r\n'), status: 400, cut: { method: 'POST', target: '/c' } },
  {
    name: 'a chunked body over maxBodyBytes: 413',
    send: chunked('8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n'),
    status: 413,
    opts: { limits: { maxBodyBytes: 10 } },
    cut: { method: 'POST', target: '/c' },
  },
  { name: 'a chunk size beyond any limit: 413', send: chunked('ffffffffffffffffffff\r\n'), status: 413, cut: { method: 'POST', target: '/c' } },
  { name: 'a chunked request, then a pipelined GET', send: chunked('3\r\nabc\r\n0\r\n\r\n') + get('/n'), requests: [{ body: 'abc' }, { target: '/n' }] },

  // ---- limits -----------------------------------------------------------------------------
  { name: 'a target over maxUrlBytes: 414', send: get('/' + 'a'.repeat(64)), status: 414, opts: { limits: { maxUrlBytes: 64 } } },
  {
    name: 'a target of exactly maxUrlBytes',
    send: get('/' + 'a'.repeat(63)),
    requests: [{ target: '/' + 'a'.repeat(63) }],
    opts: { limits: { maxUrlBytes: 64 } },
  },
  { name: 'an unfinished request line far over the limit: 414 at once', send: 'GET /' + 'a'.repeat(2000), status: 414, opts: { limits: { maxUrlBytes: 64 } } },
  { name: 'fields over maxHeaderBytes: 431', send: get('/', `X-Big: ${'b'.repeat(300)}\r\n`), status: 431, opts: { limits: { maxHeaderBytes: 256 } } },
  {
    name: 'fields of exactly maxHeaderBytes (name + value + 4 each)',
    send: get('/', `X-Big: ${'b'.repeat(256 - 14 - 9)}\r\n`),
    requests: [{ target: '/' }],
    opts: { limits: { maxHeaderBytes: 256 } },
  },
  {
    name: 'an unfinished field line far over the limit: 431 at once',
    send: `GET / HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(4000)}`,
    status: 431,
    opts: { limits: { maxHeaderBytes: 256 } },
  },
];

describe('request parser: raw corpus', () => {
  const engines = new Map<string, EngineHarness>();
  const engineFor = async (opts: HarnessOptions | undefined): Promise<EngineHarness> => {
    const key = JSON.stringify(opts ?? {});
    let e = engines.get(key);
    if (e === undefined) {
      e = await startEngine(opts);
      engines.set(key, e);
    }
    return e;
  };
  after(async () => {
    for (const e of engines.values()) await e.close();
  });

  it(`has at least 80 cases (${CASES.length})`, () => assert.ok(CASES.length >= 80));

  for (const c of CASES) {
    it(c.name, async () => {
      const e = await engineFor(c.opts);
      const before = e.seen.length;
      const client = await RawClient.open(e.port);
      client.send(c.send);
      const wanted = c.requests ?? [];
      try {
        if (c.status !== undefined) {
          await client.waitClosed();
          const rs = parseResponses(client.data).responses;
          assert.equal(rs.length, wanted.length + 1, `responses: ${client.data.toString('latin1')}`);
          const last = rs[rs.length - 1]!;
          assert.equal(last.status, c.status);
          assert.equal(last.headers.connection, 'close');
        } else {
          const rs = await client.responses(wanted.length);
          assert.equal(rs.length, wanted.length);
          for (const r of rs) assert.equal(r.status, 200);
        }
        const got = e.seen.slice(before);
        const all = c.cut ? [...wanted, c.cut] : wanted;
        assert.equal(got.length, all.length, `requests received: ${JSON.stringify(got.map((s) => s.target))}`);
        all.forEach((w, i) => {
          for (const [k, v] of Object.entries(w)) assert.deepEqual(got[i]![k as keyof Seen], v, `request ${i} ${k}`);
          assert.equal(got[i]!.aborted, c.cut !== undefined && i === wanted.length, `request ${i} aborted`);
        });
      } finally {
        client.destroy();
      }
    });
  }
});

describe('request parser: slow and stateful cases', () => {
  let e: EngineHarness;
  before(async () => {
    e = await startEngine({ headerMs: 1000, keepAliveMs: 1000 });
  });
  after(() => e.close());

  it('slowloris: a head trickled a byte at a time is cut headerMs after its first byte (408), whatever the pace', async () => {
    const c = await RawClient.open(e.port);
    const head = get('/slow', 'X-Pad: ' + 'p'.repeat(200) + '\r\n');
    const t0 = performance.now();
    let i = 0;
    const timer = setInterval(() => {
      if (!c.closed && i < head.length) c.send(head[i++]!);
    }, 50);
    try {
      await c.waitClosed(4000);
    } finally {
      clearInterval(timer);
    }
    const ms = performance.now() - t0;
    assert.ok(ms >= 700 && ms < 2500, `cut after ${ms.toFixed(0)} ms`);
    const rs = parseResponses(c.data).responses;
    assert.equal(rs.length, 1);
    assert.equal(rs[0]!.status, 408);
    assert.ok(i < head.length, 'the head never completed');
    assert.ok(!e.seen.some((s) => s.target === '/slow'));
  });

  it('a 10 KB/s upload lasting well past headerMs and keepAliveMs passes (only the proxy times bodies)', async () => {
    const c = await RawClient.open(e.port);
    const total = 30_000;
    c.send(`POST /upload HTTP/1.1\r\n${H}Content-Length: ${total}\r\n\r\n`);
    for (let sent = 0; sent < total; sent += 1000) {
      await new Promise((r) => setTimeout(r, 100));
      c.send(Buffer.alloc(1000, 'u'));
    }
    const [r] = await c.responses(1);
    assert.equal(r!.status, 200);
    assert.equal(echoOf(r!).body.length, total);
    c.destroy();
  });

  it('Expect: 100-continue: 100 Continue once the handler reads the body, then the answer', async () => {
    const c = await RawClient.open(e.port);
    c.send(`POST /e HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
    await c.until((x) => x.data.includes('\r\n\r\n'), 3000, '100 Continue');
    assert.equal(c.data.toString('latin1'), 'HTTP/1.1 100 Continue\r\n\r\n');
    c.send('hello');
    const rs = await c.responses(1);
    assert.deepEqual(
      rs.map((r) => r.status),
      [100, 200],
    );
    assert.equal(echoOf(rs[1]!).body, 'hello');
    c.destroy();
  });

  it('Expect: 100-continue answered without reading the body: no 100, and the connection closes after the answer', async () => {
    const c = await RawClient.open(e.port);
    c.send(`POST /noread HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
    await c.waitClosed();
    const rs = parseResponses(c.data).responses;
    assert.deepEqual(
      rs.map((r) => [r.status, r.headers.connection]),
      [[200, 'close']],
    );
  });

  it('draining: a connection with a request in flight gets Connection: close and is closed after the response', async () => {
    const d = await startEngine();
    try {
      const busy = await RawClient.open(d.port);
      const idle = await RawClient.open(d.port);
      idle.send(get('/idle'));
      await idle.responses(1);
      busy.send(get('/delay/300'));
      await new Promise((r) => setTimeout(r, 100));
      d.listener.drain();
      await idle.waitClosed(1000); // idle: closed at once
      await busy.waitClosed(3000);
      const rs = parseResponses(busy.data).responses;
      assert.equal(rs.length, 1);
      assert.equal(rs[0]!.status, 200);
      assert.equal(rs[0]!.headers.connection, 'close');
    } finally {
      await d.close();
    }
  });

  it('HTTP/1.0 keep-alive: Connection: keep-alive is honoured and echoed, then the connection closes without it', async () => {
    const c = await RawClient.open(e.port);
    c.send('GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    let rs = await c.responses(1);
    assert.equal(rs[0]!.headers.connection, 'keep-alive');
    c.send('GET /2 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n');
    rs = await c.responses(2);
    assert.equal(rs[1]!.headers.connection, 'keep-alive');
    c.send('GET /3 HTTP/1.0\r\n\r\n');
    await c.waitClosed();
    rs = parseResponses(c.data).responses;
    assert.deepEqual(
      rs.map((r) => [echoOf(r).target, r.headers.connection]),
      [
        ['/1', 'keep-alive'],
        ['/2', 'keep-alive'],
        ['/3', 'close'],
      ],
    );
  });

  it('a response of unknown length: chunked on HTTP/1.1, close-delimited on HTTP/1.0', async () => {
    const c11 = await RawClient.open(e.port);
    c11.send(get('/stream/3/5'));
    const [r11] = await c11.responses(1);
    assert.equal(r11!.headers['transfer-encoding'], 'chunked');
    assert.equal(r11!.body.toString(), 'aaaaabbbbbccccc');
    assert.equal(c11.closed, false);
    c11.destroy();
    const c10 = await RawClient.open(e.port);
    c10.send('GET /stream/3/5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await c10.waitClosed();
    const [r10] = parseResponses(c10.data).responses;
    assert.equal(r10!.headers['transfer-encoding'], undefined);
    assert.equal(r10!.headers['content-length'], undefined);
    assert.equal(r10!.headers.connection, 'close');
    assert.equal(r10!.body.toString(), 'aaaaabbbbbccccc');
  });

  it('HEAD: the length of the GET, no body, and the connection stays usable', async () => {
    const c = await RawClient.open(e.port);
    c.send(`HEAD /length/2500 HTTP/1.1\r\n${H}\r\n` + get('/after'));
    const rs = await c.responses(2, ['HEAD', 'GET']);
    assert.equal(rs[0]!.headers['content-length'], '2500');
    assert.equal(rs[0]!.body.length, 0);
    assert.equal(echoOf(rs[1]!).target, '/after');
    c.destroy();
  });
});
