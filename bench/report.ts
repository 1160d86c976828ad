/**
 * `bench/RESULTS.md`: one markdown section per benchmark, kept between markers so that running
 * one benchmark replaces its own section and leaves the others.
 *
 * @module
 */

/** One benchmark's section of the results file. */
export interface BenchSection {
  /** Stable id used in the markers, e.g. `"gday-exchange"`. */
  id: string;
  /** The section's markdown (heading included). */
  markdown: string;
}

const HEADER = `# peerlink benchmark results

Written by \`deno task bench\` (see \`bench/\`). Every ratio compares two figures measured in the
same run on the same machine. Numbers vary between machines and runs; the ratios are the point.
`;

/**
 * Replace (or add) `section` in the results text.
 *
 * @example
 * ```ts
 * import { mergeSection } from "./report.ts";
 * const text = mergeSection("", { id: "a", markdown: "## A\n" });
 * if (!mergeSection(text, { id: "a", markdown: "## B\n" }).includes("## B")) throw new Error("Not replaced");
 * ```
 */
export function mergeSection(text: string, section: BenchSection): string {
  const begin = `<!-- begin:${section.id} -->`;
  const end = `<!-- end:${section.id} -->`;
  const block = `${begin}\n${section.markdown.trimEnd()}\n${end}`;
  if (!text.startsWith("# peerlink benchmark results")) text = HEADER;
  const start = text.indexOf(begin);
  const stop = text.indexOf(end);
  if (start >= 0 && stop > start) {
    return text.slice(0, start) + block + text.slice(stop + end.length);
  }
  return `${text.trimEnd()}\n\n${block}\n`;
}

/** Format a number with a fixed number of decimals and thousands separators. */
export function fmt(n: number, decimals = 0): string {
  return n.toLocaleString("en-US", {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

/** The value below which `p` (0..1) of the sorted samples fall. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** A markdown line naming the machine and runtime. */
export function machineLine(): string {
  return `Machine: ${navigator.hardwareConcurrency} cores, ${Deno.build.os}/${Deno.build.arch}, Deno ${Deno.version.deno}; run ${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC.`;
}
