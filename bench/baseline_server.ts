/**
 * The baseline for the contact-exchange benchmark: the cheapest server that still does what a
 * gday request needs at the socket level: accept, read one length-prefixed frame, write one
 * length-prefixed reply, close.
 *
 * Run: `deno run -A bench/baseline_server.ts PORT`.
 *
 * @module
 */

const REPLY = new Uint8Array([0, 0, 0, 13, ...new TextEncoder().encode('"RoomCreated"')]);

async function serve(conn: Deno.TcpConn): Promise<void> {
  try {
    conn.setNoDelay(true);
    const buf = new Uint8Array(4096);
    let have = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(have));
      if (n === null) return;
      have += n;
      if (have >= 4) {
        const len = new DataView(buf.buffer).getUint32(0);
        if (have >= 4 + len) break;
      }
    }
    let off = 0;
    while (off < REPLY.length) off += await conn.write(REPLY.subarray(off));
    // Wait for the client to close (as a gday connection ends).
    await conn.read(buf).catch(() => null);
  } catch {
    // Client gone.
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

if (import.meta.main) {
  const port = Number(Deno.args[0] ?? 0);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.error(`listening ${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) serve(conn);
}
