/**
 * tcpCounter forwards 127.0.0.1 connections to a port (a TLS listener) and records, per
 * connection, the bytes each way and whether its first bytes (a ClientHello) offer h2 by ALPN:
 * what a browser test needs to count the connections a page really used. A connection that
 * carried over 5000 bytes is busy (a spare one gets a TLS handshake and SETTINGS, about 2000-3000).
 */
import net from 'node:net';

export interface TcpCounter {
  port: number;
  /** connections accepted */
  count(): number;
  /** per connection: "h2" when its ClientHello offered h2, "http/1.1 only" otherwise */
  offers(): string[];
  /** connections that carried over 5000 bytes from the server, or, with `both`, both ways together */
  busy(both?: boolean): number;
  close(): void;
}

export async function tcpCounter(target: number): Promise<TcpCounter> {
  const offers: string[] = [];
  const fromServer: number[] = [];
  const fromClient: number[] = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const i = offers.length;
    offers.push('?');
    fromServer.push(0);
    fromClient.push(0);
    c.once('data', (d: Buffer) => (offers[i] = d.includes(Buffer.from('\x02h2', 'latin1')) ? 'h2' : 'http/1.1 only'));
    const u = net.connect(target, '127.0.0.1');
    c.on('data', (d: Buffer) => (fromClient[i]! += d.length));
    u.on('data', (d: Buffer) => (fromServer[i]! += d.length));
    socks.add(c).add(u);
    c.pipe(u).pipe(c);
    const end = () => {
      c.destroy();
      u.destroy();
    };
    c.on('error', end).on('close', end);
    u.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    count: () => offers.length,
    offers: () => offers,
    busy: (both = false) => fromServer.filter((b, i) => b + (both ? fromClient[i]! : 0) > 5000).length,
    close: () => {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}
