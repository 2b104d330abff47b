/**
 * NullResponse stands in for a client in a request nobody waits for (a stale-while-revalidate
 * background refresh): ProxyRequest writes to it as to a uWS response, and everything is dropped.
 * Only the methods ProxyRequest calls are implemented.
 */
export class NullResponse {
  private offset = 0;

  constructor(private readonly remoteAddress: ArrayBuffer) {}

  cork(cb: () => void): this {
    cb();
    return this;
  }
  writeStatus(): this {
    return this;
  }
  writeHeader(): this {
    return this;
  }
  endWithoutBody(): this {
    return this;
  }
  end(): this {
    return this;
  }
  tryEnd(chunk: ArrayBufferView | ArrayBuffer | string, total: number): [boolean, boolean] {
    this.offset += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    return [true, this.offset >= total];
  }
  write(): boolean {
    return true;
  }
  getWriteOffset(): number {
    return this.offset;
  }
  onWritable(): this {
    return this;
  }
  onAborted(): this {
    return this;
  }
  onData(): this {
    return this;
  }
  pause(): void {}
  resume(): void {}
  close(): this {
    return this;
  }
  getRemoteAddress(): ArrayBuffer {
    return this.remoteAddress;
  }
}
