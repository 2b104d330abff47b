/**
 * HTTP/2 conformance: every case of h2spec (github.com/summerwind/h2spec: its generic, http2 and
 * hpack suites, 146 cases plus the 2 it runs only with --strict), re-done with raw frames over h2c
 * with prior knowledge against the worker's HTTP/2 front (createH2Handler on the engine's plain
 * listener, test/helpers/engine.ts's handler answering every request), on both implementations:
 * fulcrum's own frame layer (src/worker/h2/conn.ts), held to the strict checks (a connection
 * error is a GOAWAY with the RFC's code, a stream error leaves the connection serving), and
 * node:http2 (nghttp2), held to h2spec's own checks, with the cases where nghttp2 differs
 * skipped and the reason given. The cases are in test/helpers/h2spec-*.ts, the client and its
 * verifiers in test/helpers/h2spec.ts.
 */
import { after, before, describe, it } from 'node:test';
import { createH2Handler } from '../src/worker/h2/h2-front.js';
import { H2_DEFAULTS } from '../src/worker/h2/h2-options.js';
import { type EngineHarness, startEngine } from './helpers/engine.js';
import { FRAMES } from './helpers/h2spec-frames.js';
import { GENERIC } from './helpers/h2spec-generic.js';
import { MESSAGES } from './helpers/h2spec-messages.js';
import { STREAMS } from './helpers/h2spec-streams.js';

const CASES = [...GENERIC, ...STREAMS, ...FRAMES, ...MESSAGES];

/** where node:http2 (nghttp2 in Node 20) does not do what h2spec expects: case -> why (node's behaviour is not ours to change) */
const INTERNAL =
  'node:http2 answers with GOAWAY INTERNAL_ERROR, not the RFC code h2spec expects (observed on Node 20: node ends the session itself on the error nghttp2 reports)';
const FORGETS = 'nghttp2 forgets a stream once it is closed and ignores its later frames, where h2spec expects STREAM_CLOSED';
const NODE_DIFFERS: Record<string, string> = {
  'http2/5.1/2': INTERNAL,
  'http2/5.1/3': INTERNAL,
  'http2/5.1/6': INTERNAL,
  'http2/5.1/8': FORGETS,
  'http2/5.1/9': FORGETS,
  'http2/5.1/11': FORGETS,
  'http2/5.1/12': FORGETS,
  'http2/5.1.1/1': INTERNAL,
  'http2/5.1.1/2':
    'nghttp2 ignores HEADERS on an id below the highest it has seen (it cannot tell a skipped id from a forgotten closed stream), where h2spec expects PROTOCOL_ERROR',
  'http2/5.1.1/3': INTERNAL,
  'http2/5.1.2/1': INTERNAL,
  'http2/5.3.1/1': INTERNAL,
  'http2/5.4.1/2': INTERNAL,
  'http2/6.2/3': INTERNAL,
  'http2/6.3/1': INTERNAL,
  'http2/6.4/1': INTERNAL,
  'http2/6.4/2': INTERNAL,
  'http2/6.5/2': INTERNAL,
  'http2/6.5.2/1': INTERNAL,
  'http2/6.5.2/2': INTERNAL,
  'http2/6.5.2/3': INTERNAL,
  'http2/6.5.2/4': INTERNAL,
  'http2/6.7/2': 'node:http2 ends the connection (GOAWAY INTERNAL_ERROR) on a PING ACK for a PING it never sent',
  'http2/6.7/3': INTERNAL,
  'http2/6.7/4': "nghttp2 checks a PING's length before its stream id: GOAWAY FRAME_SIZE_ERROR where h2spec expects PROTOCOL_ERROR",
  'http2/6.8/1': INTERNAL,
  'http2/6.9/1': INTERNAL,
  'http2/6.9/2': INTERNAL,
  'http2/6.9.1/2': INTERNAL,
  'http2/6.9.2/3': INTERNAL,
  'http2/8.2/1': INTERNAL,
};

/** and where a later nghttp2 (1.70 in Node 24, CI's second run) differs as well */
const NGHTTP2_MINOR = Number(process.versions.nghttp2?.split('.')[1] ?? 0);
if (NGHTTP2_MINOR >= 62) {
  const v = `nghttp2 ${process.versions.nghttp2} (Node ${process.versions.node})`;
  NODE_DIFFERS['http2/5.3.1/2'] = `${v} ignores PRIORITY frames (RFC 9113 deprecates the scheme), so a self-dependency gets no error`;
  NODE_DIFFERS['http2/6.9.1/3'] = `${v} makes a stream window over 2^31-1 a connection error (GOAWAY FLOW_CONTROL_ERROR), where h2spec expects RST_STREAM`;
  NODE_DIFFERS['http2/8.1.2.6/1'] = `${v}: ${INTERNAL}`;
  NODE_DIFFERS['http2/8.1.2.6/2'] = `${v}: ${INTERNAL}`;
}

for (const implementation of ['fulcrum', 'node'] as const) {
  describe(`h2spec conformance (http2.implementation ${implementation})`, () => {
    let e: EngineHarness;
    before(async () => {
      let front: ReturnType<typeof createH2Handler> | null = null;
      e = await startEngine({ h2c: true, otherProtocol: (s) => front!.accept(s) });
      front = createH2Handler(e.listener.handler, () => ({ ...H2_DEFAULTS, implementation, engine: e.listener.options }));
    });
    after(() => e.close());

    const n = new Map<string, number>();
    for (const c of CASES) {
      const i = (n.get(c.section) ?? 0) + 1;
      n.set(c.section, i);
      const name = `${c.section}/${i}${c.strict ? ' (strict)' : ''}: ${c.desc}`;
      const skip = implementation === 'node' ? (NODE_DIFFERS[`${c.section}/${i}`] ?? false) : false;
      it(name, { skip }, () => c.run({ port: e.port, strict: implementation === 'fulcrum' }));
    }
  });
}
