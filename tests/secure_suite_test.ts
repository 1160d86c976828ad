/**
 * Runs the shared secure suite (`secure/_suite.ts`) against both modes.
 *
 * @module
 */

import { secureSuite } from "../secure/_suite.ts";
import { CHUNK_HEADER_BYTES } from "../secure/cipher_stream.ts";
import { ChunkTooLargeError, TamperedStreamError } from "../secure/errors.ts";
import { gdayHandshake } from "../secure/gday_handshake.ts";
import { GDAY_HEADER_BYTES } from "../secure/gday_stream.ts";
import { CONFIRM_BYTES, handshake, HELLO_BYTES } from "../secure/handshake.ts";

secureSuite({
  name: "native",
  handshake: (conn, secret, options) => handshake(conn, secret, options),
  handshakeBytes: HELLO_BYTES + CONFIRM_BYTES,
  headerBytes: CHUNK_HEADER_BYTES,
  detectsTruncation: true,
  // Claims a 2 GiB body: must fail on the header alone.
  invalidHeader: Uint8Array.fromHex("7fffffff"),
  invalidHeaderError: ChunkTooLargeError,
});

secureSuite({
  name: "gday",
  handshake: (conn, secret, options) => gdayHandshake(conn, secret, options),
  handshakeBytes: 33 + 32 + 32 + 7,
  headerBytes: GDAY_HEADER_BYTES,
  detectsTruncation: false,
  // A u16 cannot claim an oversize body; 15 is below the tag size, so no chunk is that short.
  invalidHeader: Uint8Array.fromHex("000f"),
  invalidHeaderError: TamperedStreamError,
});
