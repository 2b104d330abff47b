/**
 * A free loopback port for a server about to start (tests and benchmarks pick ports for
 * fulcrum's listen and admin sockets before it binds them).
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** Ports this test process has handed out: never hand one out twice. */
const handedOut = new Set<number>();

function tryBind(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}

/**
 * freePort returns a loopback port that was free a moment ago and that this process has not
 * handed out before. It picks below the kernel's ephemeral range (32768-60999 here), so that
 * between this call and the bind that uses the port, neither an origin's listen(0) nor an
 * outgoing connection's source port can take it (both come from that range); two calls in a
 * row could otherwise return the same port (seen: fulcrum's listen and admin ports).
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const candidate = i < 40 ? 20000 + Math.floor(Math.random() * 12000) : 0;
    const port = await tryBind(candidate);
    if (port !== null && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no fresh loopback port in 50 tries');
}
