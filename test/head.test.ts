/**
 * The upstream request head (src/worker/proxy/head.ts), byte for byte: one table of requests as
 * an engine hands them over (ClientExchange.fields) and the head fulcrum sends to the server, or
 * the reason it refuses to forward them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BodyMode, buildHead, moveHost, type HeadInfo, type HeadOptions } from '../src/worker/proxy/head.js';

const base: HeadOptions = {
  method: 'GET',
  target: '/a?b=1',
  clientIp: '203.0.113.7',
  trusted: false,
  forwarded: 'x-forwarded',
  realIp: false,
  hostHeader: 'client',
  serverHostPort: '127.0.0.1:9001',
  proto: 'http',
  maxHeaders: 100,
  maxHeaderBytes: 16384,
  drop: null,
  extra: null,
};

interface Case {
  name: string;
  fields: string[];
  opts?: Partial<HeadOptions>;
  head?: string;
  bodyMode?: BodyMode;
  reject?: [HeadInfo['rejectKind'], string];
}

const XF = 'x-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: http\r\n';

const CASES: Case[] = [
  {
    name: 'a plain GET: Host first, the client order kept, X-Forwarded-* and Via added',
    fields: ['host', 'example.com', 'accept', '*/*', 'user-agent', 'curl/8'],
    head: `GET /a?b=1 HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\nuser-agent: curl/8\r\n${XF}x-forwarded-host: example.com\r\nvia: 1.1 fulcrum\r\n\r\n`,
    bodyMode: BodyMode.None,
  },
  {
    name: 'hop-by-hop fields and those Connection names are removed',
    fields: [
      'host',
      'h',
      'connection',
      'keep-alive, x-hop',
      'keep-alive',
      'timeout=5',
      'te',
      'trailers',
      'upgrade',
      'h2c',
      'trailer',
      'x-t',
      'proxy-connection',
      'keep-alive',
      'proxy-authorization',
      'Basic x',
      'expect',
      '100-continue',
      'x-hop',
      '1',
      'x-end',
      '2',
    ],
    head: `GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-end: 2\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'Connection: close alone drops nothing else',
    fields: ['host', 'h', 'connection', 'close', 'x-a', '1'],
    head: `GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-a: 1\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'an untrusted client cannot forge X-Forwarded-*',
    fields: ['host', 'h', 'x-forwarded-for', '10.9.9.9', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'evil'],
    head: `GET /a?b=1 HTTP/1.1\r\nhost: h\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'a trusted proxy: X-Forwarded-For extended, its proto and host kept, Via appended',
    fields: [
      'host',
      'h',
      'x-forwarded-for',
      '10.0.0.1',
      'x-forwarded-for',
      '10.0.0.2',
      'x-forwarded-proto',
      'https',
      'x-forwarded-host',
      'orig',
      'via',
      '1.0 edge',
    ],
    opts: { trusted: true },
    head:
      'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 10.0.0.1, 10.0.0.2, 203.0.113.7\r\nx-forwarded-proto: https\r\nx-forwarded-host: orig\r\n' +
      'via: 1.0 edge, 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'an untrusted client cannot forge Forwarded, X-Real-IP or any other X-Forwarded-* field',
    fields: [
      'host',
      'h',
      'forwarded',
      'for=10.9.9.9;proto=https',
      'x-real-ip',
      '10.9.9.9',
      'x-forwarded-port',
      '443',
      'x-forwarded-prefix',
      '/admin',
      'x-forwarded-ssl',
      'on',
      'x-forwardedness',
      'kept: not a forwarding field',
    ],
    head: `GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-forwardedness: kept: not a forwarding field\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'a trusted proxy: its Forwarded, X-Real-IP and other X-Forwarded-* fields are relayed in place (forwardedHeader "x-forwarded")',
    fields: ['host', 'h', 'forwarded', 'for=198.51.100.1', 'x-real-ip', '198.51.100.1', 'x-forwarded-port', '443', 'accept', '*/*'],
    opts: { trusted: true },
    head:
      'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nforwarded: for=198.51.100.1\r\nx-real-ip: 198.51.100.1\r\nx-forwarded-port: 443\r\naccept: */*\r\n' +
      `${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'forwardedHeader "forwarded", untrusted IPv4 client: Forwarded alone, the client\'s forwarding fields removed',
    fields: ['host', 'h', 'x-forwarded-for', '10.9.9.9', 'forwarded', 'for=10.9.9.9', 'x-real-ip', '10.9.9.9', 'x-a', '1'],
    opts: { forwarded: 'forwarded' },
    head: 'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-a: 1\r\nforwarded: for=203.0.113.7;host=h;proto=http\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'forwardedHeader "forwarded", untrusted IPv6 client over HTTPS: the address bracketed and quoted, a Host with a port quoted',
    fields: ['host', 'example.com:8443'],
    opts: { forwarded: 'forwarded', clientIp: '2001:db8::1', proto: 'https' },
    head: 'GET /a?b=1 HTTP/1.1\r\nhost: example.com:8443\r\nforwarded: for="[2001:db8::1]";host="example.com:8443";proto=https\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'forwardedHeader "forwarded": an IPv6 literal Host is quoted',
    fields: ['host', '[2001:db8::2]:8080'],
    opts: { forwarded: 'forwarded' },
    head: 'GET /a?b=1 HTTP/1.1\r\nhost: [2001:db8::2]:8080\r\nforwarded: for=203.0.113.7;host="[2001:db8::2]:8080";proto=http\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'forwardedHeader "both", untrusted client: X-Forwarded-* and Forwarded, nothing of the client\'s',
    fields: ['host', 'shop.example', 'forwarded', 'for=10.9.9.9', 'x-forwarded-for', '10.9.9.9'],
    opts: { forwarded: 'both' },
    head:
      `GET /a?b=1 HTTP/1.1\r\nhost: shop.example\r\n${XF}x-forwarded-host: shop.example\r\n` +
      'forwarded: for=203.0.113.7;host=shop.example;proto=http\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'forwardedHeader "forwarded", trusted proxy: its Forwarded list (two lines) extended, its X-Forwarded-* relayed in place',
    fields: [
      'host',
      'h',
      'forwarded',
      'for=192.0.2.43, for="[2001:db8:cafe::17]:4711"',
      'x-forwarded-for',
      '192.0.2.43',
      'forwarded',
      'for=198.51.100.17;proto=https',
      'x-forwarded-proto',
      'https',
    ],
    opts: { forwarded: 'forwarded', trusted: true, clientIp: '10.0.0.5' },
    head:
      'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 192.0.2.43\r\nx-forwarded-proto: https\r\n' +
      'forwarded: for=192.0.2.43, for="[2001:db8:cafe::17]:4711", for=198.51.100.17;proto=https, for=10.0.0.5;host=h;proto=http\r\n' +
      'via: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'forwardedHeader "forwarded", trusted proxy that sent no Forwarded: fulcrum\'s element alone',
    fields: ['host', 'h'],
    opts: { forwarded: 'forwarded', trusted: true, clientIp: '10.0.0.5' },
    head: 'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nforwarded: for=10.0.0.5;host=h;proto=http\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'forwardedHeader "both", trusted IPv6 proxy: X-Forwarded-For gets the bare address, Forwarded the quoted one',
    fields: ['host', 'h', 'x-forwarded-for', '192.0.2.43', 'forwarded', 'for=192.0.2.43', 'x-forwarded-proto', 'https'],
    opts: { forwarded: 'both', trusted: true, clientIp: '2001:db8::5' },
    head:
      'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 192.0.2.43, 2001:db8::5\r\nx-forwarded-proto: https\r\nx-forwarded-host: h\r\n' +
      'forwarded: for=192.0.2.43, for="[2001:db8::5]";host=h;proto=http\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'realIpHeader, untrusted client: X-Real-IP is the client address, never its own',
    fields: ['host', 'h', 'x-real-ip', '10.9.9.9'],
    opts: { realIp: true },
    head: `GET /a?b=1 HTTP/1.1\r\nhost: h\r\n${XF}x-forwarded-host: h\r\nx-real-ip: 203.0.113.7\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'realIpHeader, untrusted IPv6 client: the bare address',
    fields: ['host', 'h'],
    opts: { realIp: true, forwarded: 'forwarded', clientIp: '2001:db8::1' },
    head: 'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nforwarded: for="[2001:db8::1]";host=h;proto=http\r\nx-real-ip: 2001:db8::1\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'realIpHeader, trusted proxy that sent X-Real-IP: its value is kept',
    fields: ['host', 'h', 'x-real-ip', '198.51.100.1', 'x-forwarded-for', '192.0.2.1, 198.51.100.9'],
    opts: { realIp: true, trusted: true, clientIp: '10.0.0.5' },
    head:
      'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 192.0.2.1, 198.51.100.9, 10.0.0.5\r\nx-forwarded-proto: http\r\nx-forwarded-host: h\r\n' +
      'x-real-ip: 198.51.100.1\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'realIpHeader, trusted proxy with only X-Forwarded-For: the last address it sent',
    fields: ['host', 'h', 'x-forwarded-for', '192.0.2.1', 'x-forwarded-for', '198.51.100.9'],
    opts: { realIp: true, trusted: true, clientIp: '10.0.0.5', forwarded: 'forwarded' },
    head:
      'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 192.0.2.1\r\nx-forwarded-for: 198.51.100.9\r\n' +
      'forwarded: for=10.0.0.5;host=h;proto=http\r\nx-real-ip: 198.51.100.9\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'realIpHeader, trusted proxy that sent neither: its own address',
    fields: ['host', 'h'],
    opts: { realIp: true, trusted: true, clientIp: '10.0.0.5' },
    head: 'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 10.0.0.5\r\nx-forwarded-proto: http\r\nx-forwarded-host: h\r\nx-real-ip: 10.0.0.5\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'HTTPS clients get x-forwarded-proto: https',
    fields: ['host', 'h'],
    opts: { proto: 'https' },
    head: 'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\nx-forwarded-host: h\r\nvia: 1.1 fulcrum\r\n\r\n',
  },
  {
    name: 'hostHeader "server" sends the server address',
    fields: ['host', 'public.example'],
    opts: { hostHeader: 'server' },
    head: `GET /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:9001\r\n${XF}x-forwarded-host: public.example\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'a literal hostHeader',
    fields: ['host', 'public.example'],
    opts: { hostHeader: 'api.internal' },
    head: `GET /a?b=1 HTTP/1.1\r\nhost: api.internal\r\n${XF}x-forwarded-host: public.example\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'a body with Content-Length keeps its length',
    fields: ['host', 'h', 'content-type', 'text/plain', 'content-length', '5'],
    opts: { method: 'POST', target: '/up' },
    head: `POST /up HTTP/1.1\r\nhost: h\r\ncontent-type: text/plain\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\ncontent-length: 5\r\n\r\n`,
    bodyMode: BodyMode.Length,
  },
  {
    name: 'Content-Length: 0 is relayed, with no body',
    fields: ['host', 'h', 'content-length', '0'],
    opts: { method: 'POST' },
    head: `POST /a?b=1 HTTP/1.1\r\nhost: h\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\ncontent-length: 0\r\n\r\n`,
    bodyMode: BodyMode.None,
  },
  {
    name: 'a chunked body is re-framed by fulcrum',
    fields: ['host', 'h', 'transfer-encoding', 'chunked'],
    opts: { method: 'PUT' },
    head: `PUT /a?b=1 HTTP/1.1\r\nhost: h\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\ntransfer-encoding: chunked\r\n\r\n`,
    bodyMode: BodyMode.Chunked,
  },
  {
    name: 'the cache drops conditionals and adds its validators',
    fields: ['host', 'h', 'if-none-match', '"old"', 'range', 'bytes=0-1', 'accept', '*/*'],
    opts: { drop: ['if-none-match', 'range'], extra: ['if-none-match', '"v1"'] },
    head: `GET /a?b=1 HTTP/1.1\r\nhost: h\r\naccept: */*\r\nif-none-match: "v1"\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\n\r\n`,
  },
  {
    name: 'no Host',
    fields: ['accept', '*/*'],
    reject: ['invalid-head', 'missing or invalid Host'],
  },
  { name: 'two Host fields', fields: ['host', 'a', 'host', 'b'], reject: ['invalid-head', 'more than one Host'] },
  { name: 'an invalid Host', fields: ['host', 'a b'], reject: ['invalid-head', 'missing or invalid Host'] },
  { name: 'DEL in a value', fields: ['host', 'h', 'x-a', 'a\x7fb'], reject: ['invalid-head', 'control character in a header value'] },
  {
    name: 'Content-Length with Transfer-Encoding',
    fields: ['host', 'h', 'content-length', '3', 'transfer-encoding', 'chunked'],
    reject: ['invalid-head', 'unsupported Transfer-Encoding'],
  },
  {
    name: 'a Transfer-Encoding other than chunked',
    fields: ['host', 'h', 'transfer-encoding', 'gzip, chunked'],
    reject: ['invalid-head', 'unsupported Transfer-Encoding'],
  },
  { name: 'a non-numeric Content-Length', fields: ['host', 'h', 'content-length', '5x'], reject: ['invalid-head', 'invalid Content-Length'] },
  {
    name: 'two Content-Length fields',
    fields: ['host', 'h', 'content-length', '5', 'content-length', '5'],
    reject: ['invalid-head', 'invalid Content-Length'],
  },
  {
    name: 'more fields than maxHeaders',
    fields: ['host', 'h', 'a', '1', 'b', '2'],
    opts: { maxHeaders: 2 },
    reject: ['too-many-fields', 'too many header fields'],
  },
  {
    name: 'more bytes than maxHeaderBytes',
    fields: ['host', 'h', 'a', 'x'.repeat(100)],
    opts: { maxHeaderBytes: 64 },
    reject: ['too-many-fields', 'header fields too large'],
  },
];

describe('upstream request head', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const out: HeadInfo = { head: '', bodyMode: BodyMode.None, contentLength: -1, reject: null, rejectKind: 'invalid-head' };
      buildHead(c.fields, { ...base, ...c.opts }, out);
      if (c.reject) {
        assert.deepEqual([out.rejectKind, out.reject], c.reject);
        return;
      }
      assert.equal(out.reject, null);
      assert.equal(out.head, c.head);
      if (c.bodyMode !== undefined) assert.equal(out.bodyMode, c.bodyMode);
    });
  }

  it('a head built after a refused one carries nothing of it', () => {
    const out: HeadInfo = { head: '', bodyMode: BodyMode.None, contentLength: -1, reject: null, rejectKind: 'invalid-head' };
    buildHead(['host', 'a', 'host', 'b', 'x-left', '1'], base, out);
    buildHead(['host', 'h'], base, out);
    assert.equal(out.reject, null);
    assert.equal(out.head, `GET /a?b=1 HTTP/1.1\r\nhost: h\r\n${XF}x-forwarded-host: h\r\nvia: 1.1 fulcrum\r\n\r\n`);
  });

  it("a head for an untrusted client carries nothing of a trusted proxy's head built before it", () => {
    const out: HeadInfo = { head: '', bodyMode: BodyMode.None, contentLength: -1, reject: null, rejectKind: 'invalid-head' };
    const fields = ['host', 'h', 'forwarded', 'for=10.0.0.1', 'x-real-ip', '10.0.0.1', 'x-forwarded-for', '10.0.0.1', 'x-forwarded-port', '1'];
    buildHead(fields, { ...base, trusted: true, forwarded: 'both', realIp: true }, out);
    buildHead(fields, { ...base, forwarded: 'both', realIp: true }, out);
    assert.equal(
      out.head,
      `GET /a?b=1 HTTP/1.1\r\nhost: h\r\n${XF}x-forwarded-host: h\r\nforwarded: for=203.0.113.7;host=h;proto=http\r\nx-real-ip: 203.0.113.7\r\nvia: 1.1 fulcrum\r\n\r\n`,
    );
  });

  it('a retry on another server moves a Host that named the server, and only that one', () => {
    const head = 'GET / HTTP/1.1\r\nhost: 127.0.0.1:9001\r\nx-a: 1\r\n\r\n';
    assert.equal(moveHost(head, 'server', '127.0.0.1:9001', '127.0.0.1:9002'), 'GET / HTTP/1.1\r\nhost: 127.0.0.1:9002\r\nx-a: 1\r\n\r\n');
    assert.equal(moveHost(head, 'server', '127.0.0.1:9003', '127.0.0.1:9002'), head);
    assert.equal(moveHost(head, 'api.internal', '127.0.0.1:9001', '127.0.0.1:9002'), head);
    // a queued request's head was built with no server: an empty Host gets the server's
    assert.equal(moveHost('GET / HTTP/1.1\r\nhost: \r\n\r\n', 'client', '', '127.0.0.1:9002'), 'GET / HTTP/1.1\r\nhost: 127.0.0.1:9002\r\n\r\n');
  });
});
