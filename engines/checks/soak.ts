// Soak: after maintenance is off, keep calling the health endpoints for a while and fail on the
// thresholds the runbooks name (error rate, p95 latency), absolute or relative to a baseline
// measured on the release before; re-run the smoke flows and re-read the logs as it goes. No Pulumi
// inside.
import { quiet, throttled, type Progress } from "../progress";
import { runLogCheck, type LogCheckSpec } from "./logs";
import { runSmokeTest, type SmokeTestSpec } from "./smoke";

export interface SoakSpec {
  /** URLs probed in turn; a probe passes on a 2xx answer. */
  readonly urls: readonly string[];
  readonly durationSeconds: number;
  readonly intervalMs: number;
  /** Fail when failed probes / all probes exceeds this (0.05 = 5 %). */
  readonly maxErrorRate: number;
  /** Fail when the 95th percentile latency exceeds this. */
  readonly maxP95Ms: number;
  readonly requestTimeoutMs: number;
  /** The smoke flows, run again every `everySeconds` while soaking; a failed step ends the soak. */
  readonly smoke?: { readonly everySeconds: number; readonly tests: readonly SmokeTestSpec[] };
  /** The log check's forbidden patterns, judged again every `everySeconds` and at the end on every line since the release started. */
  readonly logs?: { readonly everySeconds: number; readonly check: LogCheckSpec };
  /** The release before's figures and how far above them this one may go; null: none was measured. */
  readonly baseline?: BaselineLimits;
}

/** What a baseline allows: `result` is the release before's, measured before maintenance on. */
export interface BaselineLimits {
  readonly result: BaselineResult | null;
  /** Error rate allowed above the baseline's (0.05: 5 percentage points). */
  readonly maxErrorRateIncrease: number;
  /** p95 allowed above the baseline's, as a fraction (0.5: 50 % slower). */
  readonly maxP95Increase: number;
  /** The p95 limit is never below this, so a baseline of a few milliseconds does not make noise a breach. */
  readonly p95FloorMs: number;
}

/** The probes of the release before, taken before maintenance on. */
export interface BaselineResult {
  readonly probes: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

/** The limits a soak judges by, and what they are relative to. */
export interface SoakLimits {
  readonly maxErrorRate: number;
  readonly maxP95Ms: number;
  /** The baseline they were derived from; null: the stack's absolute limits. */
  readonly baseline: BaselineResult | null;
}

export interface SoakResult {
  readonly passed: true;
  readonly probes: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly maxMs: number;
  readonly durationMs: number;
  /** What was judged against; absent on results recorded before baselines. */
  readonly limits?: SoakLimits;
  /** Runs of every smoke flow, and looks at the logs, during the soak. */
  readonly smokeRuns?: number;
  readonly logRuns?: number;
}

/**
 * The limits: relative to the baseline when one was measured (its error rate plus the allowed
 * increase; its p95 times 1 + the allowed increase, not below the floor), else the absolute ones.
 * A baseline only tightens them: a release before that was already failing or slow never lets the
 * new one go past the absolute limits.
 */
export function soakLimits(spec: Pick<SoakSpec, "maxErrorRate" | "maxP95Ms" | "baseline">): SoakLimits {
  const b = spec.baseline;
  if (!b?.result) return { maxErrorRate: spec.maxErrorRate, maxP95Ms: spec.maxP95Ms, baseline: null };
  return {
    maxErrorRate: Math.min(spec.maxErrorRate, round4(b.result.errorRate + b.maxErrorRateIncrease)),
    maxP95Ms: Math.min(
      spec.maxP95Ms,
      Math.max(b.p95FloorMs, Math.round(b.result.p95Ms * (1 + b.maxP95Increase))),
    ),
    baseline: b.result,
  };
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

/** The p-th percentile (0-100) by nearest rank; 0 for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Judges collected probes against the limits; returns the breaches, empty when within them. */
export function soakBreaches(limits: SoakLimits, latencies: readonly number[], errors: number): string[] {
  const probes = latencies.length;
  const breaches: string[] = [];
  const errorRate = probes === 0 ? 1 : errors / probes;
  const of = (what: string, value: string) =>
    limits.baseline ? ` (the release before: ${what} ${value})` : "";
  if (errorRate > limits.maxErrorRate) {
    breaches.push(
      `error rate ${(errorRate * 100).toFixed(1)} % (${errors} of ${probes} probes) is over ${(limits.maxErrorRate * 100).toFixed(1)} %` +
        of("error rate", `${((limits.baseline?.errorRate ?? 0) * 100).toFixed(1)} %`),
    );
  }
  const p95 = percentile(latencies, 95);
  if (p95 > limits.maxP95Ms)
    breaches.push(
      `p95 latency ${p95} ms is over ${limits.maxP95Ms} ms` + of("p95", `${limits.baseline?.p95Ms} ms`),
    );
  return breaches;
}

/** One probe: its latency, and what failed (undefined on a 2xx). */
async function probe(url: string, timeoutMs: number): Promise<{ ms: number; failure?: string }> {
  const started = performance.now();
  let failure: string | undefined;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    if (response.status < 200 || response.status > 299) failure = `${url} -> ${response.status}`;
  } catch (err) {
    failure = `${url} -> ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name}`;
  }
  return { ms: Math.round(performance.now() - started), failure };
}

/**
 * The baseline: `probes` probes of the URLs, in turn, on the release running now. Null when none
 * answered and there may be no running release (a first install): nothing to compare with.
 */
export async function measureBaseline(
  spec: Pick<SoakSpec, "urls" | "intervalMs" | "requestTimeoutMs"> & {
    readonly probes: number;
    readonly allowNoCurrentService: boolean;
  },
  progress: Progress = quiet,
): Promise<BaselineResult | null> {
  const latencies: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < spec.probes; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, spec.intervalMs));
    const p = await probe(spec.urls[i % spec.urls.length], spec.requestTimeoutMs);
    latencies.push(p.ms);
    if (p.failure) failures.push(p.failure);
  }
  if (failures.length === spec.probes && spec.allowNoCurrentService) {
    progress(
      `baseline: nothing answered (${failures[0]}); a first install has no baseline, the absolute limits apply`,
    );
    return null;
  }
  const result = {
    probes: spec.probes,
    errors: failures.length,
    errorRate: round4(failures.length / spec.probes),
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
  };
  progress(
    `baseline of the release before: ${result.probes} probes, error rate ${(result.errorRate * 100).toFixed(1)} %, p95 ${result.p95Ms} ms`,
  );
  return result;
}

/** Probes until the duration has passed, then judges; throws with the figures on a breach. */
export async function runSoak(spec: SoakSpec, progress: Progress = quiet): Promise<SoakResult> {
  const started = performance.now();
  const limits = soakLimits(spec);
  const latencies: number[] = [];
  const failures: string[] = [];
  let errors = 0;
  let i = 0;
  let smokeRuns = 0;
  let logRuns = 0;
  let nextSmoke = spec.smoke ? started + spec.smoke.everySeconds * 1000 : Infinity;
  let nextLogs = spec.logs ? started + spec.logs.everySeconds * 1000 : Infinity;
  const live = "The release is live and out of maintenance: roll back (npm run rollback) or fix forward.";
  const report = throttled(progress, 5000);
  if (limits.baseline) {
    progress(
      `soak limits from the baseline: error rate up to ${(limits.maxErrorRate * 100).toFixed(1)} %, p95 up to ${limits.maxP95Ms} ms`,
    );
  }
  do {
    const p = await probe(spec.urls[i++ % spec.urls.length], spec.requestTimeoutMs);
    latencies.push(p.ms);
    if (p.failure) {
      errors++;
      failures.push(p.failure);
    }
    report(
      () =>
        `soak: ${Math.round((performance.now() - started) / 1000)} s of ${spec.durationSeconds} s, ` +
        `${latencies.length} probes, ${errors} errors (${((errors / latencies.length) * 100).toFixed(1)} %), ` +
        `p95 ${percentile(latencies, 95)} ms so far`,
    );
    const now = performance.now();
    if (spec.smoke && now >= nextSmoke) {
      nextSmoke = now + spec.smoke.everySeconds * 1000;
      smokeRuns++;
      for (const test of spec.smoke.tests) {
        try {
          await runSmokeTest(test);
        } catch (err) {
          throw new Error(
            `soak failed after ${Math.round((now - started) / 1000)} s: run ${smokeRuns} of the smoke tests: ${sentence((err as Error).message)} ${live}`,
            { cause: err },
          );
        }
      }
    }
    if (spec.logs && now >= nextLogs) {
      nextLogs = now + spec.logs.everySeconds * 1000;
      logRuns++;
      await judgeLogsAgain(spec.logs.check, Math.round((now - started) / 1000), live);
    }
    await new Promise((resolve) => setTimeout(resolve, spec.intervalMs));
  } while (performance.now() - started < spec.durationSeconds * 1000);
  // The last stretch of the logs, after the last look.
  if (spec.logs) {
    logRuns++;
    await judgeLogsAgain(spec.logs.check, spec.durationSeconds, live);
  }

  const breaches = soakBreaches(limits, latencies, errors);
  const errorRate = errors / latencies.length;
  if (breaches.length > 0) {
    const seen = [...new Set(failures)].slice(0, 5).join(", ");
    throw new Error(
      `soak failed after ${spec.durationSeconds} s: ${breaches.join("; ")}` +
        (seen ? ` (failures seen: ${seen})` : "") +
        `. ${live}`,
    );
  }
  return {
    passed: true,
    probes: latencies.length,
    errors,
    errorRate,
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    maxMs: Math.max(...latencies),
    durationMs: Math.round(performance.now() - started),
    ...(spec.baseline ? { limits } : {}),
    ...(spec.smoke ? { smokeRuns } : {}),
    ...(spec.logs ? { logRuns } : {}),
  };
}

/**
 * The log check's forbidden patterns on every line since the release started (read again in full,
 * so a Docker host whose clock differs from this machine's loses no line between two looks).
 */
async function judgeLogsAgain(check: LogCheckSpec, afterSeconds: number, live: string): Promise<void> {
  try {
    await runLogCheck({ ...check, require: [], timeoutSeconds: 0 });
  } catch (err) {
    throw new Error(`soak failed after ${afterSeconds} s: ${sentence((err as Error).message)} ${live}`, {
      cause: err,
    });
  }
}

/** A message as one sentence: ends with exactly one full stop. */
const sentence = (message: string) => `${message.replace(/\.+$/, "")}.`;
