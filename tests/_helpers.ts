/**
 * Shared test helpers: a raw gday client over `Deno.connect`, a self-signed certificate, and a
 * `server.ts` child process.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Frame a JSON text exactly as gday writes it: 4-byte big-endian length, then the UTF-8 bytes. */
export function rawFrame(json: string): Uint8Array {
  const body = encoder.encode(json);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** A raw TCP client that speaks gday frames as JSON text. */
export class RawClient implements Disposable {
  conn: Deno.Conn;
  #buf = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }
  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname, port }));
  }
  async writeBytes(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }
  send(json: string): Promise<void> {
    return this.writeBytes(rawFrame(json));
  }
  /** Read one frame's JSON text, or null when the server closed the connection. */
  async recv(timeoutMs = 5000): Promise<string | null> {
    const timer = setTimeout(() => this.conn.close(), timeoutMs);
    try {
      for (;;) {
        if (this.#buf.length >= 4) {
          const len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(0);
          if (this.#buf.length >= 4 + len) {
            const body = this.#buf.subarray(4, 4 + len);
            this.#buf = this.#buf.slice(4 + len);
            return decoder.decode(body);
          }
        }
        const chunk = new Uint8Array(4096);
        let n: number | null;
        try {
          n = await this.conn.read(chunk);
        } catch {
          n = null;
        }
        if (n === null) return null;
        const merged = new Uint8Array(this.#buf.length + n);
        merged.set(this.#buf);
        merged.set(chunk.subarray(0, n), this.#buf.length);
        this.#buf = merged;
      }
    } finally {
      clearTimeout(timer);
    }
  }
  async request(json: string): Promise<string | null> {
    await this.send(json);
    return await this.recv();
  }
  /** Resolves true when the server closes the connection (reads EOF) within the time. */
  async closedByServer(timeoutMs = 5000): Promise<boolean> {
    return (await this.recv(timeoutMs)) === null;
  }
  get localPort(): number {
    return (this.conn.localAddr as Deno.NetAddr).port;
  }
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

/** A self-signed certificate for localhost, 127.0.0.1 and ::1, made with openssl. */
export async function selfSignedCert(): Promise<{ cert: string; key: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "peerlink-cert-" });
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`openssl failed: ${decoder.decode(out.stderr)}`);
  return {
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
    dir,
  };
}

/** Lines of a child's stream, one at a time. */
export class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  lines: string[] = [];
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** Read lines until one matches; throws on end of stream or timeout. */
  async waitFor(match: (line: string) => boolean, timeoutMs = 10000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        this.lines.push(line);
        if (match(line)) return line;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Timed out waiting for a line; saw:\n${this.lines.join("\n")}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const result = await Promise.race([
        this.#reader.read(),
        new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left))),
      ]);
      clearTimeout(timer);
      if (result === "timeout") continue;
      if (result.done) {
        throw new Error(`Stream ended while waiting for a line; saw:\n${this.lines.join("\n")}`);
      }
      this.#buffer += result.value;
    }
  }
  /** Read everything left. */
  async rest(): Promise<string> {
    let text = this.#buffer;
    this.#buffer = "";
    for (;;) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      text += value;
    }
    this.lines.push(...text.split("\n").filter((l) => l !== ""));
    return text;
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** A `deno run -A server.ts` child process. */
export interface ServerProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  log: LineReader;
  /** Listening lines parsed: service/transport → port. */
  listeners: { service: string; transport: string; addr: string; port: number }[];
  /** SIGTERM, wait; resolves with the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

const ROOT = new URL("../", import.meta.url).pathname;

/** Turn off the services a test did not ask for (STUN, relay), so parallel runs never collide. */
function defaultsOff(args: string[]): string[] {
  const off: string[] = [];
  if (!args.some((a) => a.startsWith("--stun") || a === "--no-stun")) off.push("--no-stun");
  if (!args.some((a) => a.startsWith("--relay") || a === "--no-relay")) off.push("--no-relay");
  return off;
}

/** Start `server.ts` with JSON logs and wait until `expectedListeners` listening lines appeared. */
export async function spawnServer(args: string[], expectedListeners = 1): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}server.ts`,
      "--log-format",
      "json",
      ...defaultsOff(args),
      ...args,
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const log = new LineReader(child.stderr);
  const listeners: ServerProcess["listeners"] = [];
  try {
    while (listeners.length < expectedListeners) {
      const line = await log.waitFor((l) => l.includes('"event":"listening"'), 20000);
      const entry = JSON.parse(line);
      listeners.push({
        service: entry.service,
        transport: entry.transport,
        addr: entry.addr,
        port: Number(entry.addr.slice(entry.addr.lastIndexOf(":") + 1)),
      });
    }
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    await log.cancel();
    throw error;
  }
  let stopped: Promise<Deno.CommandStatus> | null = null;
  const stop = (): Promise<Deno.CommandStatus> => {
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      const status = await child.status;
      await log.rest().catch(() => "");
      return status;
    })();
    return stopped;
  };
  return { child, log, listeners, stop, [Symbol.asyncDispose]: async () => void (await stop()) };
}

/** Run `client.ts` with arguments; resolves with its exit code and output. */
export async function runClientProcess(
  args: string[],
  options: { signal?: AbortSignal; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}client.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    signal: options.signal,
    env: options.env,
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
