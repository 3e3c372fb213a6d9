// What each release of the DJ-System job-approval service expects of the database. 1.0.0 is
// production before the runbook: V2 approval flows (migration 015). 2.0.1 is the runbook's release:
// the extended V1 flow with job types, skip approval and auto assignment (migration 016). 2.0.0 is
// the same release built with a stale data layer, the failure the runbook's "Generate Prisma
// Client (MUST DO!)" guards against: it still creates jobs through the V2 tables 016 drops.

export interface ReleaseExpectation {
  /** The schema version (last migration id) this release needs. */
  readonly requires: string;
  /** The approval flow the API offers: V2 templates, or the extended V1 flow. */
  readonly api: "v2" | "v1-extended";
  /** The tables job creation reads: the V2 assignments, or the V1 flows. */
  readonly dataLayer: "v2" | "v1-extended";
}

const RELEASES: Record<string, ReleaseExpectation> = {
  "1.0.0": { requires: "015", api: "v2", dataLayer: "v2" },
  "2.0.0": { requires: "016", api: "v1-extended", dataLayer: "v2" },
  "2.0.1": { requires: "016", api: "v1-extended", dataLayer: "v1-extended" },
};

const NEWEST = "2.0.1";

/** The expectation of a release; development builds behave as the newest release. */
export function releaseFor(version: string): ReleaseExpectation {
  return RELEASES[version] ?? RELEASES[NEWEST];
}
