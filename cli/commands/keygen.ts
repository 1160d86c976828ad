/**
 * `client.ts keygen`: make an Ed25519 identity for the mediator, write it to a key file (mode
 * 0600) and print the public key to give to peers.
 *
 * @module
 */

import { generateIdentity, IdentityFileError, saveIdentity } from "../../client/identity.ts";
import { flagHelp, type FlagSpec, parseFlags } from "../flags.ts";
import { type CliIo, EXIT, UsageError } from "../io.ts";

/** Where `keygen` writes unless told otherwise. */
export const DEFAULT_KEY_FILE = "peerlink.key";

const FLAGS: readonly FlagSpec[] = [
  {
    name: "out",
    type: "string",
    value: "FILE",
    default: DEFAULT_KEY_FILE,
    help: "Write the private key here (mode 0600) and the public key to FILE.pub",
  },
  { name: "force", type: "boolean", help: "Replace FILE if it exists" },
  { name: "json", type: "boolean", help: "Print the result as one JSON object" },
];

const USAGE = `Make an identity (an Ed25519 key pair) for pairing through a mediator.

Usage:
  client.ts keygen [--out FILE] [--force]

The private key goes to FILE, readable by you only; keep it secret. The public key is printed:
give it to your peer, who passes it to "client.ts pair --peer".

Options:
`;

/**
 * Run `keygen`; resolves with the exit code.
 *
 * @example
 * ```ts
 * import { keygenCommand } from "./keygen.ts";
 * const dir = await Deno.makeTempDir();
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await keygenCommand(["--out", `${dir}/me.key`], io) !== 0 || !out.startsWith("pk1")) throw new Error(out);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function keygenCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  const path = values.out as string;
  if (path.trim() === "") throw new UsageError("--out needs a file name");
  const identity = await generateIdentity();
  try {
    await saveIdentity(path, identity, { overwrite: values.force === true });
  } catch (error) {
    if (!(error instanceof IdentityFileError)) throw error;
    io.err(`error: ${error.message}\n`);
    return EXIT.failed;
  }
  if (values.json === true) {
    io.out(
      JSON.stringify({ publicKey: identity.text, keyFile: path, publicKeyFile: `${path}.pub` }) +
        "\n",
    );
  } else {
    io.out(`${identity.text}\n`);
    io.err(
      `Wrote your private key to ${path} (keep it secret) and your public key to ${path}.pub.\n` +
        `Give your peer the public key above; they run:  client.ts pair --peer ${identity.text}\n`,
    );
  }
  return EXIT.ok;
}
