/**
 * Tiny UDP/TCP probes that `tests/lab_test.ts` runs inside lab namespaces
 * (`deno run --unstable-net -A tests/lab_probe.ts MODE JSON`). Not a test file itself.
 *
 * - `serve {"v4":"0.0.0.0","v6":"2001:db8:100::10"|null,"ports":[7001,7002]}`:
 *   UDP and TCP on every port; prints `ready` once bound. UDP `who` is answered with
 *   `seen <ip> <port>`; UDP `poke <port>` is answered the same way, then a `poke` datagram is
 *   sent to the asker from the server's socket on `<port>` (to test filtering). TCP connections
 *   get `seen <ip> <port>\n`.
 * - `ask {"bind":"0.0.0.0","port":40000,"listenMs":500,"send":[{"host","port","msg"}]}`:
 *   sends each message from one UDP socket, waits for each `seen` reply (2 s), then keeps
 *   listening `listenMs` for other datagrams; prints one JSON line
 *   `{"replies":[{"ip","port"}|null],"extra":[{"ip","port","text"}]}`.
 * - `tcp-ask {"host","port"}`: prints the JSON `{"ip","port"}` the server saw.
 *
 * @module
 */

interface Seen {
  ip: string;
  port: number;
}

interface Extra extends Seen {
  text: string;
}

const REPLY_TIMEOUT_MS = 2000;

function parseSeen(text: string): Seen | null {
  const match = /^seen (\S+) (\d+)$/.exec(text.trim());
  return match ? { ip: match[1] ?? "", port: Number(match[2]) } : null;
}

function timeout(ms: number): { promise: Promise<null>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

async function serve(config: { v4: string; v6: string | null; ports: number[] }): Promise<void> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const udp = new Map<string, Deno.DatagramConn>();
  const hosts = config.v6 ? [config.v4, config.v6] : [config.v4];
  for (const hostname of hosts) {
    for (const port of config.ports) {
      udp.set(
        `${hostname.includes(":") ? 6 : 4}:${port}`,
        Deno.listenDatagram({ transport: "udp", hostname, port }),
      );
      const listener = Deno.listen({ transport: "tcp", hostname, port });
      (async () => {
        for await (const conn of listener) {
          const addr = conn.remoteAddr as Deno.NetAddr;
          await conn.write(encoder.encode(`seen ${addr.hostname} ${addr.port}\n`)).catch(() => {});
          conn.close();
        }
      })();
    }
  }
  for (const [key, conn] of udp) {
    const family = key.split(":")[0];
    (async () => {
      for (;;) {
        const [data, from] = await conn.receive();
        const addr = from as Deno.NetAddr;
        const text = decoder.decode(data).trim();
        await conn.send(encoder.encode(`seen ${addr.hostname} ${addr.port}`), addr);
        const poke = /^poke (\d+)$/.exec(text);
        if (poke) {
          const via = udp.get(`${family}:${poke[1]}`);
          await via?.send(encoder.encode("poke"), addr);
        }
      }
    })();
  }
  console.log("ready");
  await new Promise(() => {});
}

async function ask(config: {
  bind: string;
  port: number;
  listenMs: number;
  send: { host: string; port: number; msg: string }[];
}): Promise<void> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const conn = Deno.listenDatagram({ transport: "udp", hostname: config.bind, port: config.port });
  const replies: (Seen | null)[] = [];
  const extra: Extra[] = [];
  let pending: Promise<[Uint8Array, Deno.Addr]> | null = null;
  const next = (ms: number): Promise<[Uint8Array, Deno.Addr] | null> => {
    pending ??= conn.receive();
    const timer = timeout(ms);
    return Promise.race([
      pending.then((value) => {
        pending = null;
        return value;
      }),
      timer.promise,
    ]).finally(() => timer.cancel());
  };
  const record = (datagram: [Uint8Array, Deno.Addr]): Seen | null => {
    const addr = datagram[1] as Deno.NetAddr;
    const text = decoder.decode(datagram[0]);
    const seen = parseSeen(text);
    if (!seen) extra.push({ ip: addr.hostname, port: addr.port, text });
    return seen;
  };
  for (const target of config.send) {
    await conn.send(encoder.encode(target.msg), {
      transport: "udp",
      hostname: target.host,
      port: target.port,
    });
    const until = Date.now() + REPLY_TIMEOUT_MS;
    let seen: Seen | null = null;
    while (!seen && Date.now() < until) {
      const datagram = await next(until - Date.now());
      if (!datagram) break;
      seen = record(datagram);
    }
    replies.push(seen);
  }
  const until = Date.now() + config.listenMs;
  while (Date.now() < until) {
    const datagram = await next(until - Date.now());
    if (datagram) record(datagram);
  }
  console.log(JSON.stringify({ replies, extra }));
  Deno.exit(0);
}

async function tcpAsk(config: { host: string; port: number }): Promise<void> {
  using conn = await Deno.connect({ hostname: config.host, port: config.port });
  const buffer = new Uint8Array(256);
  const n = await conn.read(buffer);
  const seen = parseSeen(new TextDecoder().decode(buffer.subarray(0, n ?? 0)));
  console.log(JSON.stringify(seen));
}

if (import.meta.main) {
  const [mode, json = "{}"] = Deno.args;
  const config = JSON.parse(json);
  if (mode === "serve") await serve(config);
  else if (mode === "ask") await ask(config);
  else if (mode === "tcp-ask") await tcpAsk(config);
  else {
    console.error("usage: lab_probe.ts serve|ask|tcp-ask JSON");
    Deno.exit(2);
  }
}
