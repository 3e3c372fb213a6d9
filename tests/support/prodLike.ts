// A stack configured like prod, for the tests of safety paths (rollback, restore): the current
// service required, the maintenance endpoint required, an enforced window that is open now, and
// approvals naming the release digest that preview prints (tech-lead and dba unless the config
// requires others).
import assert from "node:assert/strict";
import { sampleConfig, type Release, type TestStack } from "./stack";

export const ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/** `HH:MM` in UTC, `minutes` from now. */
export const utcClock = (minutes: number) =>
  new Date(Date.now() + minutes * 60_000).toISOString().slice(11, 16);

/** An enforced window, every day, open from an hour ago to an hour from now unless given. */
export function enforcedWindow(
  window = { start: utcClock(-60), end: utcClock(60) },
): Record<string, unknown> {
  return { enforce: true, days: ALL_DAYS, ...window, timeZone: "UTC" };
}

/** Prod's sessions gate on the sample service: no user logged in before a forward release. */
export const SESSIONS_GATE = {
  name: "no-active-sessions",
  sql: "SELECT count(*) FROM sessions WHERE expires_at > now()",
  expect: 0,
  timeoutSeconds: 15,
  intervalMs: 1000,
};

/** The sample config with prod's settings; `window` is open now unless given. */
export function prodLike(
  t: TestStack,
  release: Release,
  id: string,
  window = { start: utcClock(-60), end: utcClock(60) },
): Record<string, unknown> {
  const base = `http://127.0.0.1:${t.appPort}`;
  return {
    ...sampleConfig(t, release, id),
    "rollout:preflight": { currentHealthUrl: `${base}/health`, allowNoCurrentService: false, gates: [] },
    "rollout:maintenance": {
      url: `${base}/admin/maintenance`,
      bypassHeader: "x-maintenance-bypass",
      allowUnreachable: false,
    },
    "rollout:window": enforcedWindow(window),
    "rollout:approvals": { required: ["tech-lead", "dba"], given: [] },
    "rollout:notify": {},
  };
}

/** Sets the config and its approvals, which name the digest the preview prints, as a reviewer does. */
export async function approved<C extends Record<string, unknown>>(
  t: Pick<TestStack, "stack" | "setConfig">,
  config: C,
): Promise<C> {
  await t.setConfig(config);
  const preview = await t.stack.preview();
  const digest = /has digest ([0-9a-f]{64})/.exec(preview.stdout)?.[1];
  assert.ok(digest, `preview prints the release digest:\n${preview.stdout.slice(-2000)}`);
  const id = (config["rollout:release"] as { id: string }).id;
  // The roles the config requires (the sample's prod: tech-lead and dba), each signed by someone
  // else, with the digest's short and full forms in turn.
  const asked = (config["rollout:approvals"] as { required?: string[] } | undefined)?.required ?? [];
  const required = asked.length > 0 ? asked : ["tech-lead", "dba"];
  const people = ["alice", "bob", "carol", "dewi", "eko", "fitri"];
  const given = required.map((role, i) => ({
    role,
    by: people[i % people.length],
    release: id,
    digest: i % 2 === 0 ? digest.slice(0, 12) : digest,
  }));
  const withApprovals = { ...config, "rollout:approvals": { required, given } };
  await t.setConfig(withApprovals);
  return withApprovals;
}
