/**
 * TunnelRelay moves bytes both ways between a client connection and a server connection once the
 * server has switched protocols (a WebSocket on fulcrum's own engine: proxy/tunnel.ts does the
 * handshake). It is nginx's upgraded-connection relay (ngx_http_upstream_process_upgraded):
 * frames pass end to end untouched, fulcrum never parses, masks or reassembles them, so
 * extensions, pings and close frames are the two ends' business.
 *
 * - Back-pressure: when a side's write returns false, the other side's socket is paused until the
 *   writer emits 'drain' (TCP then slows the faster peer down). fulcrum holds at most a socket's
 *   buffer and one read per direction, whatever the two ends do.
 * - Half-close (RFC 9293 3.6): a FIN from one side is passed on as a FIN to the other (end()),
 *   and the other direction stays open until its own FIN.
 * - An error or an abrupt close on either side destroys both (a WebSocket end sees the TCP close,
 *   1006); after FINs both ways, what is still queued for a slow reader is written first.
 * - Idle: with websocket.idleTimeoutMs (0: none), a tunnel with no bytes either way for that long
 *   is closed (nginx's proxy_read_timeout on upgraded connections). A worker-wide sweep checks
 *   once a second; a byte costs one assignment, no timer reset.
 * - Drain: closeAllTunnels() closes every open tunnel when the worker's drain time is over.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { counter } from '../obs/metrics.js';

/** What a relay tells its owner (the Tunnel): both sockets are gone. */
export interface RelayOwner {
  onRelayClosed(): void;
}

// the WebSocket metrics of the uWS relay (ws/ws-proxy.ts), counted for tunnels too
const bytesFamily = counter('fulcrum_websocket_bytes_total', 'WebSocket message payload bytes relayed.', ['direction']);
const bytesFromClients = bytesFamily.labels('from_client');
const bytesToClients = bytesFamily.labels('to_client');

/** open tunnels: swept for idleness, closed at the end of a drain */
const live = new Set<TunnelRelay>();

/** openTunnels counts the tunnels still open (ws/ws-proxy.ts adds them to fulcrum_websockets_open) */
export function openTunnels(): number {
  return live.size;
}
/** the sweep's clock (ms, performance.now() at the last sweep): what a byte stamps */
let clock = 0;
let sweeper: NodeJS.Timeout | null = null;
const SWEEP_MS = 1000;

export class TunnelRelay {
  /** the sweep clock when a byte last moved */
  private lastAt = clock;
  private done = false;
  // one set of listeners per tunnel
  private readonly onClientData = (b: Buffer) => this.fromClient(b);
  private readonly onServerData = (b: Buffer) => this.fromServer(b);
  private readonly onClientDrain = () => this.server.resume();
  private readonly onServerDrain = () => this.client.resume();
  private readonly onClientEnd = () => this.server.end();
  private readonly onServerEnd = () => this.client.end();
  private readonly onGone = () => this.close();
  private readonly onClientClose = () => this.closed(this.server);
  private readonly onServerClose = () => this.closed(this.client);

  constructor(
    private readonly client: Duplex,
    private readonly server: net.Socket,
    /** websocket.idleTimeoutMs of the generation the tunnel started in (0: never) */
    private readonly idleMs: number,
    private readonly owner: RelayOwner,
  ) {}

  /**
   * start relays `clientBytes` (what the client sent after its request head) to the server and
   * `serverBytes` (what the server sent after its 101 head) to the client, then everything else.
   */
  start(clientBytes: Buffer, serverBytes: Buffer | null): void {
    const c = this.client;
    const s = this.server;
    c.on('data', this.onClientData);
    s.on('data', this.onServerData);
    c.on('drain', this.onClientDrain);
    s.on('drain', this.onServerDrain);
    c.on('end', this.onClientEnd);
    s.on('end', this.onServerEnd);
    c.on('error', this.onGone);
    s.on('error', this.onGone);
    c.on('close', this.onClientClose);
    s.on('close', this.onServerClose);
    live.add(this);
    if (this.idleMs > 0) startSweeper();
    this.lastAt = clock;
    if (c.destroyed || s.destroyed) return this.close();
    if (clientBytes.length !== 0) this.fromClient(clientBytes);
    if (serverBytes !== null && serverBytes.length !== 0) this.fromServer(serverBytes);
    c.resume(); // detach() handed it over paused
  }

  private fromClient(b: Buffer): void {
    this.lastAt = clock;
    bytesFromClients.inc(b.length);
    if (!this.server.write(b)) this.client.pause();
  }

  private fromServer(b: Buffer): void {
    this.lastAt = clock;
    bytesToClients.inc(b.length);
    if (!this.client.write(b)) this.server.pause();
  }

  /**
   * closed: one side's socket closed. When the other has exchanged both FINs too, it is left to
   * write what it still holds (its own 'close' ends the tunnel); otherwise it is destroyed.
   */
  private closed(other: Duplex): void {
    if (!other.destroyed && other.readableEnded && other.writableEnded) return;
    this.close();
  }

  /** close destroys both sockets (once) and tells the owner. */
  close(): void {
    if (this.done) return;
    this.done = true;
    live.delete(this);
    this.client.destroy();
    this.server.destroy();
    this.owner.onRelayClosed();
  }

  /** sweep closes the tunnel when no byte moved for idleMs. */
  sweep(): void {
    if (this.idleMs > 0 && clock - this.lastAt > this.idleMs) this.close();
  }
}

function startSweeper(): void {
  if (sweeper !== null) return;
  clock = performance.now();
  sweeper = setInterval(() => {
    clock = performance.now();
    for (const t of live) t.sweep();
    if (live.size === 0) {
      clearInterval(sweeper!);
      sweeper = null;
    }
  }, SWEEP_MS);
  sweeper.unref();
}

/**
 * closeAllTunnels closes every open tunnel (the worker's drain time is over); returns how many.
 */
export function closeAllTunnels(): number {
  const n = live.size;
  for (const t of [...live]) t.close();
  return n;
}
