/**
 * `deno task compile`: build single-binary `peerlink-server` and `peerlink` (the client) for every
 * target `deno compile` supports, into `dist/`. Downloading each target's runtime needs internet
 * access. `deno task compile -- x86_64-unknown-linux-gnu` builds one target.
 *
 * @module
 */

/** The six targets of `deno compile`. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
  "aarch64-pc-windows-msvc",
] as const;

/** The programs and their entry points. */
export const PROGRAMS = [
  { name: "peerlink-server", entry: "server.ts" },
  { name: "peerlink", entry: "client.ts" },
] as const;

/** The `deno compile` arguments for one program and target. */
export function compileArgs(program: (typeof PROGRAMS)[number], target: string): string[] {
  const exe = target.includes("windows") ? ".exe" : "";
  return [
    "compile",
    "--allow-all",
    "--unstable-net",
    "--target",
    target,
    "--output",
    `dist/${target}/${program.name}${exe}`,
    program.entry,
  ];
}

if (import.meta.main) {
  const targets = Deno.args.length > 0 ? Deno.args : TARGETS;
  for (const target of targets) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      console.error(`Unknown target ${target}; known: ${TARGETS.join(", ")}`);
      Deno.exit(2);
    }
  }
  let failed = 0;
  for (const target of targets) {
    for (const program of PROGRAMS) {
      const args = compileArgs(program, target);
      console.error(`deno ${args.join(" ")}`);
      const { success } = await new Deno.Command(Deno.execPath(), {
        args,
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (!success) failed++;
    }
  }
  if (failed > 0) {
    console.error(
      `${failed} build(s) failed (deno compile downloads a runtime per target: is the internet reachable?)`,
    );
    Deno.exit(1);
  }
}
