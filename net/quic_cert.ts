/**
 * A QUIC certificate both peers can compute from their (stretched) shared secret.
 *
 * QUIC always runs TLS, and a QUIC client must verify the server's certificate. Between two
 * peers that share a secret there is no CA, so both derive the same Ed25519 key pair from the
 * secret (HKDF-SHA256) and build the same self-signed end-entity certificate (Ed25519
 * signatures are deterministic, and every field is fixed): the server presents it and the client
 * trusts exactly it. This is defence in depth only; peerlink's own PAKE handshake runs inside
 * the QUIC stream and is what authenticates the peers.
 *
 * The certificate is X.509 v3 DER: serial 1, issuer and subject `CN=peerlink`, valid from
 * 2020-01-01 to 2049-12-31, subject alternative name `DNS:peerlink.invalid`, basic constraints
 * `CA:FALSE` (critical), signed with Ed25519. The DER encoder here only writes these fixed
 * structures; the signature and key math come from `@noble/curves`.
 *
 * @module
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes } from "../bytes/mod.ts";

/** The name the certificate is issued for (what the QUIC client asks for). */
export const QUIC_SERVER_NAME = "peerlink.invalid";

/** A certificate and its private key, PEM. */
export interface QuicCertificate {
  /** The certificate, PEM (`BEGIN CERTIFICATE`). */
  cert: string;
  /** The Ed25519 private key, PKCS#8 PEM (`BEGIN PRIVATE KEY`). */
  key: string;
}

/** DER tag-length-value. */
function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concatBytes(content);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return concatBytes([new Uint8Array([tag, ...length]), body]);
}

const seq = (...c: Uint8Array[]): Uint8Array => tlv(0x30, ...c);
const bytes = (hex: string): Uint8Array => Uint8Array.fromHex(hex);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const OID_ED25519 = bytes("06032b6570");
const OID_CN = bytes("0603550403");
const OID_SAN = bytes("0603551d11");
const OID_BASIC_CONSTRAINTS = bytes("0603551d13");

function pem(label: string, der: Uint8Array): string {
  const b64 = der.toBase64();
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * Build the certificate for a 32-byte Ed25519 seed.
 *
 * @example The same seed gives the same certificate
 * ```ts
 * import { quicCertificate } from "./quic_cert.ts";
 * const seed = new Uint8Array(32).fill(7);
 * if (quicCertificate(seed).cert !== quicCertificate(seed).cert) throw new Error("Not deterministic");
 * ```
 */
export function quicCertificate(seed: Uint8Array): QuicCertificate {
  if (seed.length !== 32) throw new RangeError(`An Ed25519 seed has 32 bytes, not ${seed.length}`);
  const publicKey = ed25519.getPublicKey(seed);
  const algorithm = seq(OID_ED25519);
  const name = seq(tlv(0x31, seq(OID_CN, tlv(0x0c, text("peerlink")))));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, new Uint8Array([2]))), // version v3
    tlv(0x02, new Uint8Array([1])), // serial 1
    algorithm,
    name,
    seq(tlv(0x17, text("200101000000Z")), tlv(0x17, text("491231235959Z"))),
    name,
    seq(algorithm, tlv(0x03, new Uint8Array([0]), publicKey)),
    tlv(
      0xa3,
      seq(
        seq(OID_SAN, tlv(0x04, seq(tlv(0x82, text(QUIC_SERVER_NAME))))),
        seq(OID_BASIC_CONSTRAINTS, tlv(0x01, new Uint8Array([0xff])), tlv(0x04, seq())),
      ),
    ),
  );
  const signature = ed25519.sign(tbs, seed);
  const certificate = seq(tbs, algorithm, tlv(0x03, new Uint8Array([0]), signature));
  const pkcs8 = seq(tlv(0x02, new Uint8Array([0])), algorithm, tlv(0x04, tlv(0x04, seed)));
  return { cert: pem("CERTIFICATE", certificate), key: pem("PRIVATE KEY", pkcs8) };
}

/**
 * The certificate both peers derive from their shared secret and a context (e.g. the room).
 *
 * @example
 * ```ts
 * import { quicCertificateFromSecret } from "./quic_cert.ts";
 * const a = quicCertificateFromSecret(new Uint8Array([1, 2]), new Uint8Array([3]));
 * if (!a.cert.startsWith("-----BEGIN CERTIFICATE-----")) throw new Error("Not PEM");
 * ```
 */
export function quicCertificateFromSecret(
  secret: Uint8Array,
  context: Uint8Array,
): QuicCertificate {
  return quicCertificate(hkdf(sha256, secret, context, text("peerlink/1 quic certificate"), 32));
}
