/**
 * A p2psc client written for the tests from the spec alone (p2psc.md §1.3–§1.7), deliberately
 * without peerlink's p2psc codec: messages are hand-built JSON strings, RSA is `node:crypto`.
 * It behaves as p2psc's C++ client does: one `write` per message, one `read` of up to 1024
 * bytes per message (each read must hold exactly one JSON object), no framing.
 */

import assert from "node:assert/strict";
import {
  constants,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
} from "node:crypto";
import { Buffer } from "node:buffer";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** p2psc's `RECV_BUF_SIZE`. */
export const RECV_BUF_SIZE = 1024;

/** Test-only RSA key pairs (testdata/p2psc_keys.json). */
export const KEYS = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/p2psc_keys.json", import.meta.url)),
) as Record<
  "alice" | "bob" | "carol" | "mallory",
  { public: string; private: string; spki: string }
>;

/** A PEM as it appears inside a JSON string (spotify-json escapes only the newlines here). */
export function pemInJson(pem: string): string {
  return pem.replaceAll("\n", "\\n");
}

/** `{"type":0,"payload":{"version":V,"our_key":"…","their_key":"…"}}` by hand. */
export function advertiseJson(ourPem: string, theirPem: string, version = 0): string {
  return `{"type":0,"payload":{"version":${version},"our_key":"${pemInJson(ourPem)}","their_key":"${
    pemInJson(theirPem)
  }"}}`;
}

/** `{"type":2,"payload":{"nonce":"…"}}` by hand. */
export function advertiseResponseJson(nonce: string): string {
  return `{"type":2,"payload":{"nonce":"${nonce}"}}`;
}

/** RSAES-PKCS1-v1_5 decryption of unpadded (or padded) base64, with a PKCS#1 private key. */
export function rsaDecrypt(privatePem: string, base64: string): string {
  const key = createPrivateKey(privatePem);
  const plain = privateDecrypt(
    { key, padding: constants.RSA_PKCS1_PADDING },
    Buffer.from(base64, "base64"),
  );
  return dec.decode(plain);
}

/** RSAES-PKCS1-v1_5 encryption to a PKCS#1 public key, as unpadded base64. */
export function rsaEncrypt(publicPem: string, text: string): string {
  const key = createPublicKey({ key: publicPem, format: "pem", type: "pkcs1" });
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, enc.encode(text))
    .toString("base64").replace(/=+$/, "");
}

/** One TCP connection speaking p2psc the way the C++ client does. */
export class SpecConn implements Disposable {
  readonly conn: Deno.TcpConn;
  /** Every read's text, in order. */
  readonly reads: string[] = [];
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    conn.setNoDelay(true);
  }

  static async dial(port: number, hostname = "127.0.0.1"): Promise<SpecConn> {
    return new SpecConn(await Deno.connect({ hostname, port }));
  }

  get localPort(): number {
    return (this.conn.localAddr as Deno.NetAddr).port;
  }

  /** One `send()` of the whole message; a short write fails as p2psc's does. */
  async send(json: string): Promise<void> {
    await this.sendBytes(enc.encode(json));
  }

  async sendBytes(bytes: Uint8Array): Promise<void> {
    const n = await this.conn.write(bytes);
    assert.equal(n, bytes.length, "short send");
  }

  /**
   * One `read()` of up to 1024 bytes; `null` when the other side closed. Gives up (closing the
   * socket) after `timeoutMs`.
   */
  async readOnce(timeoutMs = 5000): Promise<string | null> {
    const buf = new Uint8Array(RECV_BUF_SIZE);
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      const n = await this.conn.read(buf).catch(() => null);
      if (n === null) return null;
      const text = dec.decode(buf.subarray(0, n));
      this.reads.push(text);
      return text;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Read one message: one read that holds exactly one JSON object. */
  async recv(
    timeoutMs = 5000,
  ): Promise<{ text: string; type: number; payload: Record<string, unknown> }> {
    const text = await this.readOnce(timeoutMs);
    assert.ok(text !== null, "the mediator closed the connection");
    let value: { type: number; payload: Record<string, unknown> };
    try {
      value = JSON.parse(text);
    } catch {
      throw new assert.AssertionError({
        message: `One read did not hold exactly one message: ${text}`,
      });
    }
    assert.equal(typeof value.type, "number");
    assert.equal(typeof value.payload, "object");
    return { text, ...value };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** What the mediator handshake ended with. */
export type MediatorOutcome =
  | { role: "Client"; text: string; version: number; ip: string; port: number }
  | { role: "Peer"; text: string; port: number };

/** The §1.6 client side: Advertise, answer the challenge, read the role. */
export async function mediatorHandshake(
  conn: SpecConn,
  own: { public: string; private: string },
  theirs: { public: string },
  log?: (event: string) => void,
): Promise<MediatorOutcome> {
  await conn.send(advertiseJson(own.public, theirs.public));
  const challenge = await conn.recv();
  assert.equal(challenge.type, 1, challenge.text);
  assert.match(
    challenge.text,
    /^\{"type":1,"payload":\{"encrypted_nonce":"[A-Za-z0-9+/]{342}"\}\}$/,
  );
  assert.equal(challenge.text.length, 385);
  const nonce = rsaDecrypt(own.private, challenge.payload.encrypted_nonce as string);
  assert.match(nonce, /^[\x20-\x7e]+$/, "the nonce is printable ASCII");
  await conn.send(advertiseResponseJson(nonce));
  const role = await conn.recv(10_000);
  log?.(`role:${role.type}`);
  if (role.type === 6) {
    const p = role.payload as { version: number; ip: string; port: number };
    return { role: "Client", text: role.text, version: p.version, ip: p.ip, port: p.port };
  }
  assert.equal(role.type, 5, `expected PeerIdentification or PeerDisconnect, got ${role.text}`);
  return { role: "Peer", text: role.text, port: (role.payload as { port: number }).port };
}

/** §1.7 Peer side after PeerDisconnect: listen on 127.0.0.1:port and run the peer handshake. */
export async function peerSide(
  listener: Deno.TcpListener,
  own: { private: string },
  theirs: { public: string },
): Promise<void> {
  using conn = new SpecConn(await listener.accept());
  const challenge = await conn.recv();
  assert.equal(challenge.type, 7, challenge.text);
  const clientNonce = rsaDecrypt(own.private, challenge.payload.encrypted_nonce as string);
  const myNonce = String(Math.floor(Math.random() * 2 ** 31));
  await conn.send(
    `{"type":8,"payload":{"encrypted_nonce":"${
      rsaEncrypt(theirs.public, myNonce)
    }","decrypted_nonce":"${clientNonce}"}}`,
  );
  const response = await conn.recv();
  assert.equal(response.text, `{"type":9,"payload":{"decrypted_nonce":"${myNonce}"}}`);
  await conn.send('{"type":10,"payload":{}}');
}

/** §1.7 Client side after PeerIdentification: dial the Peer and run the peer handshake. */
export async function clientSide(
  to: { ip: string; port: number },
  own: { private: string },
  theirs: { public: string },
): Promise<void> {
  let conn: SpecConn;
  try {
    conn = await SpecConn.dial(to.port, to.ip);
  } catch {
    await new Promise((r) => setTimeout(r, 10)); // p2psc: one retry after 10 ms
    conn = await SpecConn.dial(to.port, to.ip);
  }
  using _conn = conn;
  const myNonce = String(Math.floor(Math.random() * 2 ** 31));
  await conn.send(
    `{"type":7,"payload":{"encrypted_nonce":"${rsaEncrypt(theirs.public, myNonce)}"}}`,
  );
  const reply = await conn.recv();
  assert.equal(reply.type, 8, reply.text);
  assert.equal(reply.payload.decrypted_nonce, myNonce);
  const peerNonce = rsaDecrypt(own.private, reply.payload.encrypted_nonce as string);
  await conn.send(`{"type":9,"payload":{"decrypted_nonce":"${peerNonce}"}}`);
  const ack = await conn.recv();
  assert.equal(ack.text, '{"type":10,"payload":{}}');
}
