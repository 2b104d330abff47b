/**
 * The routing form of a path (normalizePath) and route matching, as tables: every spelling that a
 * server behind fulcrum may resolve into /admin/ must match a route for /admin/, so an access list
 * there cannot be walked around (issue 16: "/public/..;/admin/x", "/public/..\admin/x").
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Router, normalizePath } from '../src/worker/router.js';

describe('normalizePath', () => {
  const cases: [string, string, string][] = [
    // [path as received, routing form, why]
    ['/', '/', 'root'],
    ['/a/b', '/a/b', 'plain paths pass as they are'],
    ['/a/b/', '/a/b/', 'a trailing slash stays'],
    ['/a//b', '/a/b', 'repeated slashes merge'],
    ['/a/./b', '/a/b', '"." segments go'],
    ['/a/../b', '/b', '".." removes the segment before it'],
    ['/../../b', '/b', '".." never climbs above the root'],
    ['/a/b/..', '/a/', 'a final ".." leaves a directory'],
    ['/a/.', '/a/', 'a final "." leaves a directory'],
    ['/.well-known/x', '/.well-known/x', 'dot-files are not dot segments'],
    ['/a/%2e%2E/b', '/b', 'encoded dots are dots (unreserved, RFC 3986 6.2.2.2)'],
    ['/%61dmin/x', '/admin/x', 'encoded unreserved letters decode'],
    ['/a%20b/%3F', '/a%20b/%3F', 'other encodings stay as they are'],
    ['/a/%252e%252e/b', '/a/%252e%252e/b', 'no double decoding'],
    // path parameters (Tomcat, Jetty, Spring drop them per segment before resolving dots)
    ['/public/..;/admin/x', '/admin/x', '"..;" is ".." with an empty parameter'],
    ['/public/..;a=b/admin/x', '/admin/x', '"..;params" is ".."'],
    ['/public/.;/x', '/public/x', '".;" is "."'],
    ['/admin;x/secret', '/admin/secret', 'parameters of any segment go'],
    ['/shop/cart;jsessionid=ABC', '/shop/cart', 'session ids in a parameter'],
    ['/a/%3B/b', '/a/%3B/b', 'an encoded ";" is data, not a parameter'],
    // backslashes and encoded separators (WHATWG, IIS, Envoy read "\" as "/"; nginx decodes %2F)
    ['/public/..\\admin/x', '/admin/x', '"\\" is a separator'],
    ['/public\\..\\admin\\x', '/admin/x', 'only backslashes'],
    ['/public/..%5Cadmin/x', '/admin/x', '%5C is a separator'],
    ['/public/..%5cadmin/x', '/admin/x', '%5c (lower case) too'],
    ['/public/..%2Fadmin/x', '/admin/x', '%2F is a separator'],
    ['/admin%2Fx', '/admin/x', 'an encoded slash after a prefix'],
    ['/public/%2e%2e%2fadmin/x', '/admin/x', 'all of it encoded'],
    ['/public/..;%2F..;/admin/', '/admin/', 'mixed'],
  ];
  for (const [input, want, why] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(want)} (${why})`, () => {
      assert.equal(normalizePath(input), want);
    });
  }

  it('returns a plain path itself (no copy on the common path)', () => {
    const p = '/api/v1/items/42';
    assert.equal(normalizePath(p), p);
  });
});

describe('Router', () => {
  const router = new Router([
    { index: 0, name: '*/', host: '*', pathPrefix: '/', upstream: 'app' },
    { index: 1, name: '*/admin/', host: '*', pathPrefix: '/admin/', upstream: 'admin' },
    { index: 2, name: 'shop.example.com/', host: 'shop.example.com', pathPrefix: '/', upstream: 'shop' },
    { index: 3, name: '*.example.com/api/', host: '*.example.com', pathPrefix: '/api/', upstream: 'api' },
  ]);
  const cases: [string, string, number][] = [
    ['x', '/public/x', 0],
    ['x', '/admin/x', 1],
    ['x', normalizePath('/public/..;/admin/x'), 1],
    ['x', normalizePath('/public/..\\admin/x'), 1],
    ['x', normalizePath('/admin;a/x'), 1],
    ['Shop.Example.COM.', '/anything', 2],
    ['shop.example.com:8080', '/admin/x', 2],
    ['a.example.com', '/api/v1', 3],
    ['a.example.com', '/web', 0],
    ['example.com', '/api/v1', 0],
  ];
  for (const [host, path, want] of cases) {
    it(`${host} ${path} -> routes[${want}]`, () => {
      assert.equal(router.match(host, path)?.index, want);
    });
  }
});
