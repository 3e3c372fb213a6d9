// What every benchmark shares: running a command and timing it, alternating two sides, and the
// min/median/max of the runs.
import { spawn } from "node:child_process";
import path from "node:path";

/** The repository root. */
export const ROOT = path.resolve(__dirname, "..");

/** One timed side of a comparison: returns the milliseconds that count (e.g. without the soak). */
export type Side = () => Promise<number>;

export interface Stats {
  readonly runs: number[];
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export function stats(runs: number[]): Stats {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { runs, min: sorted[0], median, max: sorted[sorted.length - 1] };
}

/** A figure: the product's side against its floor, measured alternately in one run. */
export interface Figure {
  readonly name: string;
  /** What the two sides are, for the table. */
  readonly product: string;
  readonly floor: string;
  readonly productStats: Stats;
  readonly floorStats: Stats;
  /** Ratio of the medians, product / floor. */
  readonly ratio: number;
  /** The target ratio, when the project sets one. */
  readonly target?: number;
  /** Figures that explain this one (a profile of where the time goes). */
  readonly notes?: string[];
}

/**
 * Runs the two sides `runs` times each, alternating (product, floor, floor, product, ...), so that
 * a change of load on the machine falls on both sides alike.
 */
export async function alternate(
  name: string,
  runs: number,
  product: Side,
  floor: Side,
): Promise<{ productStats: Stats; floorStats: Stats; ratio: number }> {
  const p: number[] = [];
  const f: number[] = [];
  for (let i = 0; i < runs; i++) {
    const order: [Side, number[], string][] =
      i % 2 === 0
        ? [
            [product, p, "product"],
            [floor, f, "floor"],
          ]
        : [
            [floor, f, "floor"],
            [product, p, "product"],
          ];
    for (const [side, into, label] of order) {
      const ms = await side();
      into.push(ms);
      log(`${name}: run ${i + 1}/${runs} ${label} ${seconds(ms)}`);
    }
  }
  const productStats = stats(p);
  const floorStats = stats(f);
  return { productStats, floorStats, ratio: productStats.median / floorStats.median };
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** A dump's size beside the plain tool's dump of the same data, and their ratio. */
export function sizes(productBytes: number, plainBytes: number, tool: string): string {
  const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB (${b} bytes)`;
  const ratio = plainBytes > 0 ? (productBytes / plainBytes).toFixed(3) : "n/a";
  return `${gib(productBytes)}, plain \`${tool}\` ${gib(plainBytes)}, ratio ${ratio}`;
}

export function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

export interface Run {
  readonly ms: number;
  /** stdout and stderr as they came. */
  readonly output: string;
  readonly stderr: string;
}

/**
 * Runs a command without a shell and resolves with its wall time and output; a non-zero exit
 * rejects with the end of the output. `env` is added to the harness's own environment.
 */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const chunks: Buffer[] = [];
    const errors: Buffer[] = [];
    child.stdout!.on("data", (c: Buffer) => chunks.push(c));
    child.stderr!.on("data", (c: Buffer) => {
      chunks.push(c);
      errors.push(c);
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - started;
      const output = Buffer.concat(chunks).toString("utf8");
      if (code === 0) resolve({ ms, output, stderr: Buffer.concat(errors).toString("utf8") });
      else reject(new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output.slice(-4000)}`));
    });
  });
}

/** Milliseconds an async function takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}
