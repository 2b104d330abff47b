/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP, node:dgram) whose answers the test changes:
 * A, AAAA and SRV records by name. Enough for fulcrum's DNS discovery (node's c-ares resolver).
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface DnsRecords {
  A?: Record<string, string[]>;
  AAAA?: Record<string, string[]>;
  /** name -> [priority, weight, port, target] */
  SRV?: Record<string, [number, number, number, string][]>;
}

export interface DnsServer {
  /** "127.0.0.1:<port>", for discovery.resolvers */
  address: string;
  records: DnsRecords;
  close(): Promise<void>;
}

const TYPES: Record<number, keyof DnsRecords> = { 1: 'A', 28: 'AAAA', 33: 'SRV' };

export async function startDns(records: DnsRecords = {}): Promise<DnsServer> {
  const sock = dgram.createSocket('udp4');
  const srv: DnsServer = { address: '', records, close: () => new Promise((r) => sock.close(() => r())) };
  sock.on('message', (q, rinfo) => {
    try {
      let o = 12;
      const labels: string[] = [];
      while (q[o]! > 0) {
        labels.push(q.subarray(o + 1, o + 1 + q[o]!).toString('ascii'));
        o += 1 + q[o]!;
      }
      o++;
      const qtype = q.readUInt16BE(o);
      const question = q.subarray(12, o + 4);
      const name = labels.join('.').toLowerCase();
      const kind = TYPES[qtype];
      const answers: Buffer[] = [];
      const rr = (rdata: Buffer) => {
        const h = Buffer.alloc(12);
        h.writeUInt16BE(0xc00c, 0);
        h.writeUInt16BE(qtype, 2);
        h.writeUInt16BE(1, 4);
        h.writeUInt32BE(1, 6); // ttl 1 s
        h.writeUInt16BE(rdata.length, 10);
        answers.push(h, rdata);
      };
      let count = 0;
      if (kind === 'A')
        for (const a of srv.records.A?.[name] ?? []) {
          rr(Buffer.from(a.split('.').map(Number)));
          count++;
        }
      if (kind === 'AAAA')
        for (const a of srv.records.AAAA?.[name] ?? []) {
          rr(ipv6(a));
          count++;
        }
      if (kind === 'SRV')
        for (const [prio, weight, port, target] of srv.records.SRV?.[name] ?? []) {
          const head = Buffer.alloc(6);
          head.writeUInt16BE(prio, 0);
          head.writeUInt16BE(weight, 2);
          head.writeUInt16BE(port, 4);
          rr(Buffer.concat([head, encodeName(target)]));
          count++;
        }
      const header = Buffer.alloc(12);
      q.copy(header, 0, 0, 2); // id
      header.writeUInt16BE(0x8580 | (q.readUInt16BE(2) & 0x0100), 2); // response, authoritative, RD copied, RA
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(count, 6);
      sock.send(Buffer.concat([header, question, ...answers]), rinfo.port, rinfo.address);
    } catch {
      // not a query we understand: no answer
    }
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  srv.address = `127.0.0.1:${(sock.address() as AddressInfo).port}`;
  return srv;
}

function encodeName(name: string): Buffer {
  const parts = name
    .split('.')
    .filter(Boolean)
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function ipv6(a: string): Buffer {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) b.writeUInt16BE(parseInt(g || '0', 16), i * 2);
  return b;
}
