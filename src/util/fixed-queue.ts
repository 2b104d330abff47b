/**
 * FixedQueue is a FIFO made of fixed-size ring buffers linked together (after undici's
 * lib/dispatcher/fixed-queue.js): push and shift are O(1) and allocate only when a 2048-slot
 * segment fills, unlike Array.prototype.shift, which is O(n) on large arrays.
 *
 *   head                                         tail
 *    |                                             |
 *  [ segment: 2048 slots, bottom..top ] -> ... -> [ segment ]
 */
const SIZE = 2048;
const MASK = SIZE - 1;

class Segment<T> {
  bottom = 0;
  top = 0;
  readonly list: (T | undefined)[] = new Array(SIZE);
  next: Segment<T> | null = null;

  isEmpty(): boolean {
    return this.top === this.bottom;
  }

  isFull(): boolean {
    return ((this.top + 1) & MASK) === this.bottom;
  }

  push(v: T): void {
    this.list[this.top] = v;
    this.top = (this.top + 1) & MASK;
  }

  shift(): T | undefined {
    const v = this.list[this.bottom];
    if (v === undefined) return undefined;
    this.list[this.bottom] = undefined;
    this.bottom = (this.bottom + 1) & MASK;
    return v;
  }

  peek(): T | undefined {
    return this.list[this.bottom];
  }
}

export class FixedQueue<T> {
  private head = new Segment<T>();
  private tail = this.head;
  length = 0;

  isEmpty(): boolean {
    return this.head.isEmpty();
  }

  push(v: T): void {
    if (this.head.isFull()) this.head = this.head.next = new Segment<T>();
    this.head.push(v);
    this.length++;
  }

  shift(): T | undefined {
    const t = this.tail;
    const v = t.shift();
    if (t.isEmpty() && t.next !== null) this.tail = t.next;
    if (v !== undefined) this.length--;
    return v;
  }

  peek(): T | undefined {
    return this.tail.peek();
  }
}
