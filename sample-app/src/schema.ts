// What each release of the sample service expects of the database. 1.1.0 needs migration 0003
// (items.status); 1.2.0 needs 0004 (items.title renamed to items.name), which 1.1.0 cannot run
// against: that is why a rollout goes backup -> schema -> app, inside maintenance.

export interface SchemaExpectation {
  /** The schema version (last migration id) this release needs. */
  readonly requires: string;
  readonly titleColumn: "title" | "name";
  readonly hasStatus: boolean;
  /** A known defect, for rollback drills: `/health/db` answers 500. */
  readonly brokenDatabaseHealth?: boolean;
}

const RELEASES: Record<string, SchemaExpectation> = {
  "1.0.0": { requires: "0002", titleColumn: "title", hasStatus: false },
  "1.1.0": { requires: "0003", titleColumn: "title", hasStatus: true },
  "1.2.0": { requires: "0004", titleColumn: "name", hasStatus: true },
  // A deliberately broken release for rollback drills: it starts, but its database health fails.
  "1.2.1": { requires: "0004", titleColumn: "name", hasStatus: true, brokenDatabaseHealth: true },
};

const NEWEST = "1.2.0";

/** The expectation of a release; development builds behave as the newest release. */
export function schemaFor(version: string): SchemaExpectation {
  const known = RELEASES[version];
  if (known) return known;
  return RELEASES[NEWEST];
}
