/**
 * A small, fast gday load generator over `Deno.connect` (not the library client, so the client
 * side costs as little as possible and the server is what is measured).
 *
 * @module
 */

const encoder = new TextEncoder();

function frame(json: string): Uint8Array {
  const body = encoder.encode(json);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** A connection with a frame reader. */
class Conn {
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(8192);
  #start = 0;
  #end = 0;
  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    conn.setNoDelay(true);
  }
  static async open(port: number): Promise<Conn> {
    return new Conn(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }
  /** Read one frame and return its first body byte (enough to tell replies apart). */
  async read(): Promise<string> {
    for (;;) {
      const have = this.#end - this.#start;
      if (have >= 4) {
        const len = new DataView(this.#buf.buffer, this.#start).getUint32(0);
        if (have >= 4 + len) {
          const body = new TextDecoder().decode(
            this.#buf.subarray(this.#start + 4, this.#start + 4 + len),
          );
          this.#start += 4 + len;
          return body;
        }
      }
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const n = await this.#conn.read(this.#buf.subarray(this.#end));
      if (n === null) throw new Error("Server closed the connection");
      this.#end += n;
    }
  }
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

function expect(got: string, prefix: string): void {
  if (!got.startsWith(prefix)) throw new Error(`Expected ${prefix}, got ${got}`);
}

/** One complete gday exchange: two connections, CreateRoom, SendAddr, DoneSending, both PeerContacts. */
export async function gdayExchange(port: number, code: bigint): Promise<void> {
  const [c, j] = await Promise.all([Conn.open(port), Conn.open(port)]);
  try {
    await c.write(frame(`{"CreateRoom":{"room_code":${code}}}`));
    expect(await c.read(), '"RoomCreated"');
    const side = async (conn: Conn, creator: boolean): Promise<void> => {
      await conn.write(
        frame(
          `{"SendAddr":{"room_code":${code},"is_creator":${creator},"private_addr":"10.0.0.1:4000"}}`,
        ),
      );
      expect(await conn.read(), '"ReceivedAddr"');
      await conn.write(frame(`{"DoneSending":{"room_code":${code},"is_creator":${creator}}}`));
      expect(await conn.read(), '{"ClientContact"');
      expect(await conn.read(), '{"PeerContact"');
    };
    await Promise.all([side(c, true), side(j, false)]);
  } finally {
    c.close();
    j.close();
  }
}

/** The baseline unit: twice (in parallel, like a pair) connect, one request/reply, close. */
export async function baselinePair(port: number): Promise<void> {
  const one = async (): Promise<void> => {
    const conn = await Conn.open(port);
    try {
      await conn.write(frame('{"CreateRoom":{"room_code":1}}'));
      expect(await conn.read(), '"RoomCreated"');
    } finally {
      conn.close();
    }
  };
  await Promise.all([one(), one()]);
}

/** What a load run measured. */
export interface LoadResult {
  /** Completed operations per second. */
  perSecond: number;
  /** Latencies in ms, sorted. */
  latencies: number[];
  /** Operations that failed. */
  failures: number;
}

/**
 * Run `op` from `concurrency` workers for `durationMs` (after `warmupMs` not counted).
 */
export async function runLoad(
  op: (worker: number, iteration: number) => Promise<void>,
  concurrency: number,
  durationMs: number,
  warmupMs = 500,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let failures = 0;
  let done = 0;
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const stopAt = measureFrom + durationMs;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; performance.now() < stopAt; i++) {
      const t0 = performance.now();
      try {
        await op(w, i);
        const t1 = performance.now();
        if (t0 >= measureFrom && t1 <= stopAt) {
          latencies.push(t1 - t0);
          done++;
        }
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  latencies.sort((a, b) => a - b);
  return { perSecond: done / (durationMs / 1000), latencies, failures };
}
