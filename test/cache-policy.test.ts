/**
 * Table tests of the cache's pure rules (src/worker/cache/http-date.ts, targeted.ts, policy.ts):
 * how a recipient reads HTTP dates (RFC 9110 5.6.7), Expires (RFC 9111 5.3), Age (RFC 9111 5.1),
 * targeted fields such as CDN-Cache-Control (RFC 9213), Vary: * (RFC 9111 4.1), which fields a
 * stored response keeps (RFC 9111 3.1) and how a 304 updates them (RFC 9111 4.3.4), and
 * If-Modified-Since (RFC 9110 13.1.3). The same rules run end to end in cache-field-rules.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpDate } from '../src/worker/cache/http-date.js';
import { parseTargeted, strippedTargetedFields } from '../src/worker/cache/targeted.js';
import type { Config } from '../src/config/schema.js';
import {
  freshnessLifetime,
  notModified,
  notStorableReason,
  refreshedFacts,
  responseFacts,
  storedFields,
  updatedFields,
  type CacheEntry,
  type PolicyOptions,
} from '../src/worker/cache/policy.js';
import { CacheRequest } from '../src/worker/cache/cache-request.js';
import { NullExchange } from '../src/worker/engine/null-exchange.js';
import { parseHead } from './helpers/response-head.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const OPTS: PolicyOptions = { heuristicPercent: 10, heuristicMaxSeconds: 86400, targets: ['cdn-cache-control'] };

/** request builds the cache's view of a GET with these fields (what the engine hands over). */
function request(fields: [string, string][]): CacheRequest {
  const flat = fields.flatMap(([k, v]) => [k.toLowerCase(), v]);
  const peer = { bytes: new Uint8Array([127, 0, 0, 1]), ip: '127.0.0.1', gen: -1, trusted: false, allowed: true, busy: 0 };
  return new CacheRequest(new NullExchange({ method: 'GET', target: '/x', secure: false, fields: flat, peer }));
}

/** flat turns [name, value] pairs into the flat field list the cache reads. */
const flat = (fields: [string, string][]) => fields.flat();

/** lifetime is the freshness lifetime of a 200 with these fields, received at NOW. */
const lifetime = (fields: [string, string][], targets = OPTS.targets) =>
  freshnessLifetime(200, responseFacts(flat(fields), targets), NOW, { ...OPTS, targets });

describe('RFC 9110 5.6.7: HTTP-date, parsed strictly (http-date.ts)', () => {
  const valid: [string, string, number][] = [
    ['IMF-fixdate', 'Sun, 06 Nov 1994 08:49:37 GMT', Date.UTC(1994, 10, 6, 8, 49, 37)],
    ['rfc850-date', 'Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(1994, 10, 6, 8, 49, 37)],
    ['asctime-date, one-digit day after two spaces', 'Sun Nov  6 08:49:37 1994', Date.UTC(1994, 10, 6, 8, 49, 37)],
    ['asctime-date, two-digit day', 'Thu Aug 18 02:01:18 2050', Date.UTC(2050, 7, 18, 2, 1, 18)],
    ['rfc850-date up to 50 years ahead is in this century', 'Thursday, 18-Aug-50 02:01:18 GMT', Date.UTC(2050, 7, 18, 2, 1, 18)],
    ['rfc850-date more than 50 years ahead is in the last century', 'Monday, 18-Aug-80 02:01:18 GMT', Date.UTC(1980, 7, 18, 2, 1, 18)],
    ['29 Feb of a leap year', 'Thu, 29 Feb 2024 00:00:00 GMT', Date.UTC(2024, 1, 29)],
    ['a leap second', 'Wed, 31 Dec 2025 23:59:60 GMT', Date.UTC(2026, 0, 1)],
  ];
  for (const [what, v, ms] of valid) {
    it(`RFC 9110 5.6.7: ${what} is accepted: ${v}`, () => assert.equal(parseHttpDate(v, NOW), ms));
  }
  const invalid: [string, string][] = [
    ['UTC instead of GMT', 'Thu, 18 Aug 2050 02:01:18 UTC'],
    ['lowercase time zone (HTTP-date is case-sensitive)', 'Thu, 18 Aug 2050 02:01:18 gMT'],
    ['uppercase day name', 'THU, 18 Aug 2050 02:01:18 GMT'],
    ['uppercase month', 'Thu, 18 AUG 2050 02:01:18 GMT'],
    ['a missing comma', 'Thu 18 Aug 2050 02:01:18 GMT'],
    ['two spaces', 'Thu, 18  Aug  2050 02:01:18 GMT'],
    ['dashes in the date', 'Thu, 18-Aug-2050 02:01:18 GMT'],
    ['periods in the time', 'Thu, 18 Aug 2050 02.01.18 GMT'],
    ['a one-digit hour', 'Thu, 18 Aug 2050 2:01:18 GMT'],
    ['a two-digit year in an IMF-fixdate', 'Thu, 18 Aug 50 02:01:18 GMT'],
    ['a one-digit day in an IMF-fixdate', 'Thu, 8 Aug 2050 02:01:18 GMT'],
    ['a long day name in an IMF-fixdate', 'Thursday, 18 Aug 2050 02:01:18 GMT'],
    ['a value split over two field lines (joined)', 'Thu, 18 Aug 2050, 02:01:18 GMT'],
    ['two dates (two field lines joined)', 'Thu, 18 Aug 2050 02:01:18 GMT, Thu, 18 Aug 2050 02:01:18 GMT'],
    ['no time zone', 'Thu, 18 Aug 2050 02:01:18'],
    ['a numeric offset', 'Thu, 18 Aug 2050 02:01:18 +0000'],
    ['an ISO 8601 date', '2050-08-18T02:01:18Z'],
    ['"0"', '0'],
    ['"-1"', '-1'],
    ['an empty value', ''],
    ['31 April', 'Thu, 31 Apr 2050 02:01:18 GMT'],
    ['29 Feb of a common year', 'Wed, 29 Feb 2023 00:00:00 GMT'],
    ['hour 24', 'Thu, 18 Aug 2050 24:00:00 GMT'],
    ['minute 60', 'Thu, 18 Aug 2050 02:60:00 GMT'],
    ['trailing text', 'Thu, 18 Aug 2050 02:01:18 GMT x'],
  ];
  for (const [what, v] of invalid) {
    it(`RFC 9110 5.6.7: ${what} is not an HTTP-date: ${JSON.stringify(v)}`, () => assert.ok(Number.isNaN(parseHttpDate(v, NOW))));
  }
});

describe('RFC 9111 5.3: Expires', () => {
  const date = new Date(NOW).toUTCString();
  it('RFC 9111 5.3: a valid Expires an hour after Date gives an hour of freshness', () => {
    assert.equal(
      lifetime([
        ['Date', date],
        ['Expires', new Date(NOW + 3600_000).toUTCString()],
      ]),
      3600,
    );
  });
  it('RFC 9111 5.3: the asctime and rfc850 forms count too', () => {
    assert.equal(lifetime([['Expires', 'Thu Jan 15 13:00:00 2026']]), 3600);
    assert.equal(lifetime([['Expires', 'Thursday, 15-Jan-26 13:00:00 GMT']]), 3600);
  });
  for (const v of [
    'Thu, 18 Aug 2050 02:01:18 UTC',
    'Thu 18 Aug 2050 02:01:18 GMT',
    'Thu, 18  Aug  2050 02:01:18 GMT',
    'Thu, 18-Aug-2050 02:01:18 GMT',
    'Thu, 18 Aug 2050 2:01:18 GMT',
    'Thu, 18 Aug 2050 02.01.18 GMT',
    'Thu, 18 Aug 50 02:01:18 GMT',
    'THU, 18 Aug 2050 02:01:18 GMT',
    '0',
  ]) {
    it(`RFC 9111 5.3: an Expires of ${JSON.stringify(v)} is already expired`, () => {
      const f = responseFacts(flat([['Expires', v]]), OPTS.targets);
      assert.ok(f.expires !== null && Number.isNaN(f.expires), 'present but invalid');
      assert.equal(freshnessLifetime(200, f, NOW, OPTS), 0);
      // explicit (if expired) freshness: no heuristic from Last-Modified either
      assert.equal(
        lifetime([
          ['Expires', v],
          ['Last-Modified', new Date(NOW - 86400_000).toUTCString()],
        ]),
        0,
      );
    });
  }
  it('RFC 9111 5.3: an Expires split over two field lines is already expired', () => {
    assert.equal(
      lifetime([
        ['Expires', 'Thu, 18 Aug 2050'],
        ['Expires', '02:01:18 GMT'],
      ]),
      0,
    );
  });
  it('RFC 9111 5.3: Expires on two field lines, even valid and equal, is already expired (a singleton field, RFC 9110 5.3)', () => {
    const v = 'Thu, 18 Aug 2050 02:01:18 GMT';
    assert.equal(
      lifetime([
        ['Expires', v],
        ['Expires', v],
      ]),
      0,
    );
  });
  it('RFC 9111 5.3: max-age wins over an invalid Expires', () => {
    assert.equal(
      lifetime([
        ['Cache-Control', 'max-age=60'],
        ['Expires', '0'],
      ]),
      60,
    );
  });
  it('RFC 9111 4.2.1: an invalid Date is treated as absent (the response time stands in)', () => {
    const exp = new Date(NOW + 600_000).toUTCString();
    assert.equal(
      lifetime([
        ['Date', 'Thu, 15 Jan 2026 11:00:00 UTC'],
        ['Expires', exp],
      ]),
      600,
    );
    const f = responseFacts(
      flat([
        ['Date', 'Thu, 15 Jan 2026 11:00:00 UTC'],
        ['Date', 'Thu, 15 Jan 2026 11:00:00 GMT'],
      ]),
      [],
    );
    assert.ok(Number.isNaN(f.date), 'two Date lines are invalid');
  });
  it('RFC 9111 4.2.2: an invalid Last-Modified gives no heuristic freshness and is no validator', () => {
    const f = responseFacts(flat([['Last-Modified', 'Thu, 15 Jan 2026 11:00:00 UTC']]), []);
    assert.equal(f.lastModified, null);
    assert.equal(freshnessLifetime(200, f, NOW, OPTS), 0);
    const ok = responseFacts(flat([['Last-Modified', new Date(NOW - 10_000_000).toUTCString()]]), []);
    assert.equal(freshnessLifetime(200, ok, NOW, OPTS), 1000);
  });
});

describe('RFC 9111 5.1: Age', () => {
  const cases: [string, [string, string][], number][] = [
    ['a non-negative integer counts', [['Age', '7200']], 7200],
    ['a list counts by its first member: "7200,0"', [['Age', '7200,0']], 7200],
    ['a list counts by its first member: "0, 7200"', [['Age', '0, 7200']], 0],
    [
      'the first field line counts: 7200 then 0',
      [
        ['Age', '7200'],
        ['Age', '0'],
      ],
      7200,
    ],
    [
      'the first field line counts: 0 then 7200',
      [
        ['Age', '0'],
        ['Age', '7200'],
      ],
      0,
    ],
    ['empty members are skipped: ", 7200"', [['Age', ', 7200']], 7200],
    ['a decimal is invalid: the field is ignored', [['Age', '7200.0']], 0],
    ['a negative value is invalid: the field is ignored', [['Age', '-7200']], 0],
    ['a suffix is invalid: the field is ignored', [['Age', '7200s']], 0],
    ['a non-numeric value is invalid: the field is ignored', [['Age', 'abc']], 0],
    [
      'an invalid first member is not replaced by a later one',
      [
        ['Age', 'abc'],
        ['Age', '7200'],
      ],
      0,
    ],
    ['values past 2^31 are 2^31 (RFC 9111 1.2.2)', [['Age', '99999999999']], 2147483648],
  ];
  for (const [what, fields, age] of cases) {
    it(`RFC 9111 5.1: ${what}`, () => assert.equal(responseFacts(flat(fields), []).age, age));
  }
});

describe('RFC 9213: targeted fields (CDN-Cache-Control)', () => {
  const parsed: [string, Partial<Record<'maxAge' | 'sMaxage' | 'noStore' | 'noCache' | 'private' | 'mustRevalidate' | 'public', number | boolean>>][] = [
    ['max-age=3600', { maxAge: 3600 }],
    ['max-age=2147483648', { maxAge: 2147483648 }],
    ['max-age=99999999999', { maxAge: 2147483648 }],
    ['foobar, max-age=3600', { maxAge: 3600 }],
    ['max-age=3600;x=1, public', { maxAge: 3600, public: true }],
    ['no-store', { noStore: true, maxAge: -1 }],
    ['private, no-cache', { private: true, noCache: true }],
    ['no-cache="set-cookie"', { noCache: true }],
    ['must-revalidate, s-maxage=10', { mustRevalidate: true, sMaxage: 10 }],
    ['max-age="3600"', { maxAge: -1 }],
    ['max-age=3600.5', { maxAge: -1 }],
    ['max-age=-1', { maxAge: -1 }],
    ['no-store=?0', { noStore: false }],
    ['max-age=10, max-age="x"', { maxAge: -1 }],
    ['none', { maxAge: -1, noStore: false }],
    ['a=(1 2);q=1, b=:AQID:, c=@1700000000, d=%"caf%c3%a9", max-age=5', { maxAge: 5 }],
  ];
  for (const [v, want] of parsed) {
    it(`RFC 9213 2.2: ${JSON.stringify(v)} is a valid targeted field with ${JSON.stringify(want)}`, () => {
      const cc = parseTargeted(v);
      assert.ok(cc !== null);
      for (const [k, x] of Object.entries(want)) assert.equal(cc[k as keyof typeof want], x, k);
    });
  }
  for (const v of [
    '',
    '   ',
    'max-age =100',
    'max-age= 100',
    'MaX-aGe=3600',
    'max-age=10000, &&&&&',
    'max-age=1,',
    ', max-age=1',
    'max-age=1;',
    'a=(1',
    'a="x',
    'a=?2',
    'a=1234567890123456',
    'a=1.2345',
    'a=%"%C3"',
    'a=%"%ff"',
  ]) {
    it(`RFC 9213 2.2: ${JSON.stringify(v)} is empty or not a valid Dictionary: ignored`, () => assert.equal(parseTargeted(v), null));
  }

  const T = ['fulcrum-cache-control', 'cdn-cache-control'];
  const facts = (fields: [string, string][]) => responseFacts(flat(fields), T);
  it('RFC 9213 2.1: a valid targeted field replaces Cache-Control and Expires', () => {
    const f = facts([
      ['Cache-Control', 'no-store'],
      ['Expires', '0'],
      ['CDN-Cache-Control', 'max-age=600'],
    ]);
    assert.equal(f.targeted, true);
    assert.equal(f.cc.noStore, false);
    assert.equal(f.cc.maxAge, 600);
    assert.equal(f.expires, null);
    assert.equal(notStorableReason(200, f, request([])), null);
    assert.equal(freshnessLifetime(200, f, NOW, OPTS), 600);
  });
  it('RFC 9213 2.1: private, no-cache, no-store and a short max-age in it win over Cache-Control', () => {
    const cc = 'public, max-age=10000';
    assert.equal(
      notStorableReason(
        200,
        facts([
          ['Cache-Control', cc],
          ['CDN-Cache-Control', 'private'],
        ]),
        request([]),
      ),
      'private',
    );
    assert.equal(
      notStorableReason(
        200,
        facts([
          ['Cache-Control', cc],
          ['CDN-Cache-Control', 'no-store'],
        ]),
        request([]),
      ),
      'no-store',
    );
    assert.equal(
      facts([
        ['Cache-Control', cc],
        ['CDN-Cache-Control', 'no-cache'],
      ]).cc.noCache,
      true,
    );
    assert.equal(
      lifetime(
        [
          ['Cache-Control', cc],
          ['CDN-Cache-Control', 'max-age=1'],
        ],
        T,
      ),
      1,
    );
  });
  it('RFC 9213 2.1: the first field of the target list with a valid value decides', () => {
    assert.equal(
      facts([
        ['CDN-Cache-Control', 'max-age=1'],
        ['Fulcrum-Cache-Control', 'max-age=2'],
      ]).cc.maxAge,
      2,
    );
    assert.equal(
      facts([
        ['CDN-Cache-Control', 'max-age=1'],
        ['Fulcrum-Cache-Control', 'max-age =2'],
      ]).cc.maxAge,
      1,
      'an invalid one is skipped',
    );
    assert.equal(
      facts([
        ['CDN-Cache-Control', 'max-age=1'],
        ['Fulcrum-Cache-Control', ''],
      ]).cc.maxAge,
      1,
      'an empty one is skipped',
    );
  });
  it('RFC 9213 2.1: without a valid targeted field, Cache-Control and Expires decide', () => {
    const f = facts([
      ['Cache-Control', 'max-age=7'],
      ['CDN-Cache-Control', 'max-age=10000, &&&&&'],
    ]);
    assert.equal(f.targeted, false);
    assert.equal(f.cc.maxAge, 7);
  });
  it('RFC 9213 2.1: fields off the target list change nothing', () => {
    const f = responseFacts(
      flat([
        ['CDN-Cache-Control', 'no-store'],
        ['Cache-Control', 'max-age=60'],
      ]),
      ['fulcrum-cache-control'],
    );
    assert.equal(f.targeted, false);
    assert.equal(f.cc.noStore, false);
  });
  it('RFC 9213 3: the fields fulcrum consumes are stripped from responses, unless forwarded or no route caches', () => {
    const cfg = (forwardTargetedFields: boolean, cache: boolean | object | undefined) =>
      ({
        cache: { targetedFields: ['Fulcrum-Cache-Control', 'CDN-Cache-Control'], forwardTargetedFields },
        routes: [{ cache: false }, { cache }],
      }) as unknown as Config;
    assert.deepEqual(strippedTargetedFields(cfg(false, true)), T);
    assert.deepEqual(strippedTargetedFields(cfg(false, { lockTimeoutMs: 10 })), T);
    assert.deepEqual(strippedTargetedFields(cfg(true, true)), []);
    assert.deepEqual(strippedTargetedFields(cfg(false, undefined)), [], 'fulcrum is no cache: the fields are not for it');
  });
  it('RFC 9651 4.2: a targeted field on two field lines is one value', () => {
    assert.equal(
      facts([
        ['CDN-Cache-Control', 'public'],
        ['CDN-Cache-Control', 'max-age=9'],
      ]).cc.maxAge,
      9,
    );
    assert.equal(
      facts([
        ['CDN-Cache-Control', 'max-age=9'],
        ['CDN-Cache-Control', '&'],
      ]).targeted,
      false,
    );
  });
});

describe('RFC 9111 3.1 and 4.3.4: the fields a stored response keeps', () => {
  const strips = { strips: (n: string) => n === 'server' || n === 'cdn-cache-control' };
  it('RFC 9111 3.1: no hop-by-hop or framing field, nothing Connection names, no Age, no stripped field', () => {
    const p = parseHead(
      'HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n' +
        'TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nAge: 5\r\nDate: Thu, 15 Jan 2026 12:00:00 GMT\r\n' +
        'CDN-Cache-Control: max-age=60\r\nX-C: 3\r\nCache-Control: max-age=60\r\n\r\n',
    );
    // the response's own Date is kept (RFC 9110 6.6.1): hits carry it
    assert.deepEqual(storedFields(p, strips, false), ['Date', 'Thu, 15 Jan 2026 12:00:00 GMT', 'X-C', '3', 'Cache-Control', 'max-age=60']);
  });
  it('RFC 9110 6.6.1: a stored response without a Date gets the time it was received', () => {
    const p = parseHead('HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 0\r\n\r\n');
    const f = storedFields(p, strips, false);
    assert.equal(f[2], 'Date');
    assert.ok(Math.abs(Date.parse(f[3] as string) - Date.now()) < 2000);
  });
  it('RFC 9111 4.3.4: a 304 replaces the stored fields it carries, except Set-Cookie and the content ones', () => {
    const p = parseHead(
      'HTTP/1.1 304 Not Modified\r\nConnection: X-A\r\nX-A: 2\r\nSet-Cookie: s=1\r\nCache-Control: max-age=600\r\nETag: "2"\r\nContent-Encoding: gzip\r\n\r\n',
    );
    const merged = updatedFields(['Cache-Control', 'max-age=1', 'X-B', 'b', 'ETag', '"1"', 'Vary', 'a', 'Vary', 'b'], storedFields(p, strips, true));
    assert.deepEqual(merged, ['X-B', 'b', 'Vary', 'a', 'Vary', 'b', 'Cache-Control', 'max-age=600', 'ETag', '"2"']);
  });
  it('RFC 9111 4.3.4 with RFC 9213: a stored targeted field stays in force after a 304 without one', () => {
    const stored = responseFacts(
      flat([
        ['CDN-Cache-Control', 'max-age=600'],
        ['Cache-Control', 'max-age=1'],
      ]),
      OPTS.targets,
    );
    const e = { cc: stored.cc, targeted: stored.targeted } as CacheEntry;
    // the stored fields lack CDN-Cache-Control (stripped); the 304 sends Cache-Control only
    const f304 = responseFacts(flat([['Cache-Control', 'max-age=2']]), OPTS.targets);
    const fm = refreshedFacts(e, f304, ['Cache-Control', 'max-age=2'], OPTS.targets);
    assert.equal(fm.targeted, true);
    assert.equal(freshnessLifetime(200, fm, NOW, OPTS), 600);
    // a 304 with its own targeted field replaces it
    const f304b = responseFacts(flat([['CDN-Cache-Control', 'max-age=30']]), OPTS.targets);
    assert.equal(freshnessLifetime(200, refreshedFacts(e, f304b, ['Cache-Control', 'max-age=1'], OPTS.targets), NOW, OPTS), 30);
  });
});

describe('RFC 9111 4.1: Vary', () => {
  for (const v of ['*', 'Accept-Language, *', '*, Foo']) {
    it(`RFC 9111 4.1: a response with Vary: ${v} is not stored`, () => {
      assert.equal(
        notStorableReason(
          200,
          responseFacts(
            flat([
              ['Cache-Control', 'max-age=60'],
              ['Vary', v],
            ]),
            [],
          ),
          request([]),
        ),
        'vary-star',
      );
    });
  }
  it('RFC 9111 4.1: Vary: * on a second field line counts too', () => {
    const f = responseFacts(
      flat([
        ['Cache-Control', 'max-age=60'],
        ['Vary', 'Foo'],
        ['Vary', '*'],
      ]),
      [],
    );
    assert.equal(notStorableReason(200, f, request([])), 'vary-star');
  });
});

describe('RFC 9110 13.1.3: If-Modified-Since against a stored response', () => {
  const lm = 'Thu, 15 Jan 2026 10:00:00 GMT';
  const e = { etag: null, lastModified: lm } as unknown as CacheEntry;
  const cases: [string, [string, string][], boolean][] = [
    ['a date at Last-Modified: not modified', [['If-Modified-Since', lm]], true],
    ['a later date: not modified', [['If-Modified-Since', 'Thu, 15 Jan 2026 11:00:00 GMT']], true],
    ['an earlier date: modified', [['If-Modified-Since', 'Thu, 15 Jan 2026 09:00:00 GMT']], false],
    ['the asctime form', [['If-Modified-Since', 'Thu Jan 15 11:00:00 2026']], true],
    ['an invalid date is ignored', [['If-Modified-Since', 'Thu, 15 Jan 2026 11:00:00 UTC']], false],
    [
      'two field lines are ignored',
      [
        ['If-Modified-Since', lm],
        ['If-Modified-Since', lm],
      ],
      false,
    ],
    [
      'ignored when If-None-Match is present',
      [
        ['If-None-Match', '"x"'],
        ['If-Modified-Since', lm],
      ],
      false,
    ],
  ];
  for (const [what, fields, nm] of cases) {
    it(`RFC 9110 13.1.3: ${what}`, () => assert.equal(notModified(e, request(fields)), nm));
  }
});
