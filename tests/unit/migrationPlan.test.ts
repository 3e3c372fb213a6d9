import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checksumProblems,
  MigrationPlanError,
  planMigrations,
  type AppliedMigration,
  type Migration,
} from "../../engines/migrations";

/** A migration as loadMigrations would return it; the checksum is a readable stand-in. */
function file(id: string, extra: Partial<Migration> = {}): Migration {
  return {
    id,
    name: `${id}_m${id}`,
    up: `-- up ${id}`,
    down: `-- down ${id} (file)`,
    verify: [],
    checksum: `sum-${id}`,
    irreversible: false,
    noTransaction: false,
    ...extra,
  };
}

/** What the database records once `file(id)` was applied; its down SQL differs from the file's. */
function applied(id: string, extra: Partial<AppliedMigration> = {}): AppliedMigration {
  return {
    id,
    name: `${id}_m${id}`,
    checksum: `sum-${id}`,
    down: `-- down ${id} (state)`,
    irreversible: false,
    ...extra,
  };
}

const files = [file("0001"), file("0002"), file("0003")];

/** The plan as [direction, [step direction, id, SQL it runs]] for compact expectations. */
function summary(available: Migration[], done: AppliedMigration[], target: string) {
  const plan = planMigrations(available, done, target);
  return [
    plan.direction,
    plan.steps.map((s) => [s.direction, s.id, s.direction === "up" ? s.migration.up : s.down]),
  ] as const;
}

function problemsOf(available: Migration[], done: AppliedMigration[], target: string): string[] {
  try {
    planMigrations(available, done, target);
  } catch (err) {
    assert.ok(err instanceof MigrationPlanError, `expected a MigrationPlanError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the plan to be rejected");
}

describe("planMigrations", () => {
  const plans: {
    name: string;
    available: Migration[];
    applied: AppliedMigration[];
    target: string;
    expect: ReturnType<typeof summary>;
  }[] = [
    {
      name: "all up from nothing",
      available: files,
      applied: [],
      target: "0003",
      expect: [
        "up",
        [
          ["up", "0001", "-- up 0001"],
          ["up", "0002", "-- up 0002"],
          ["up", "0003", "-- up 0003"],
        ],
      ],
    },
    {
      name: "up to a middle target",
      available: files,
      applied: [],
      target: "0002",
      expect: [
        "up",
        [
          ["up", "0001", "-- up 0001"],
          ["up", "0002", "-- up 0002"],
        ],
      ],
    },
    {
      name: "up from an applied prefix, whatever order the inputs come in",
      available: [file("0003"), file("0001"), file("0002")],
      applied: [applied("0001")],
      target: "0003",
      expect: [
        "up",
        [
          ["up", "0002", "-- up 0002"],
          ["up", "0003", "-- up 0003"],
        ],
      ],
    },
    {
      name: "nothing at the target",
      available: files,
      applied: files.map((f) => applied(f.id)),
      target: "0003",
      expect: ["none", []],
    },
    {
      name: "nothing applied, target none",
      available: files,
      applied: [],
      target: "none",
      expect: ["none", []],
    },
    {
      name: "down with the down SQL from the applied records",
      available: files,
      applied: files.map((f) => applied(f.id)),
      target: "0001",
      expect: [
        "down",
        [
          ["down", "0003", "-- down 0003 (state)"],
          ["down", "0002", "-- down 0002 (state)"],
        ],
      ],
    },
    {
      name: "down to none",
      available: files,
      applied: files.map((f) => applied(f.id)),
      target: "none",
      expect: [
        "down",
        [
          ["down", "0003", "-- down 0003 (state)"],
          ["down", "0002", "-- down 0002 (state)"],
          ["down", "0001", "-- down 0001 (state)"],
        ],
      ],
    },
    {
      name: "down to 0000",
      available: files,
      applied: [applied("0001")],
      target: "0000",
      expect: ["down", [["down", "0001", "-- down 0001 (state)"]]],
    },
    {
      name: "down past migrations whose files are gone",
      available: [file("0001")],
      applied: files.map((f) => applied(f.id)),
      target: "0001",
      expect: [
        "down",
        [
          ["down", "0003", "-- down 0003 (state)"],
          ["down", "0002", "-- down 0002 (state)"],
        ],
      ],
    },
    {
      name: "down that stops above an irreversible migration",
      available: files,
      applied: [applied("0001"), applied("0002", { irreversible: true, down: undefined }), applied("0003")],
      target: "0002",
      expect: ["down", [["down", "0003", "-- down 0003 (state)"]]],
    },
  ];
  for (const c of plans) {
    it(`plans ${c.name}`, () => assert.deepEqual(summary(c.available, c.applied, c.target), c.expect));
  }

  it("carries the whole migration on up steps and id, name, down on down steps", () => {
    assert.deepEqual(planMigrations(files, [], "0001"), {
      direction: "up",
      steps: [{ direction: "up", id: "0001", name: "0001_m0001", migration: files[0] }],
    });
    assert.deepEqual(planMigrations(files, [applied("0001")], "none"), {
      direction: "down",
      steps: [{ direction: "down", id: "0001", name: "0001_m0001", down: "-- down 0001 (state)" }],
    });
  });

  const rejected: {
    name: string;
    available: Migration[];
    applied: AppliedMigration[];
    target: string;
    problems: string[];
  }[] = [
    {
      name: "an unknown target",
      available: files,
      applied: [],
      target: "0009",
      problems: [
        "target `0009` is not a known migration id; known ids: 0001, 0002, 0003 (or `none` for no migrations); set the target to one of them",
      ],
    },
    {
      name: "a target given as a name",
      available: [file("0001")],
      applied: [],
      target: "0001_m0001",
      problems: [
        "target `0001_m0001` is not a known migration id; known ids: 0001 (or `none` for no migrations); set the target to one of them",
      ],
    },
    {
      name: "a target when there are no migrations at all",
      available: [],
      applied: [],
      target: "0001",
      problems: [
        "target `0001` is not a known migration id; known ids: none yet (or `none` for no migrations); set the target to one of them",
      ],
    },
    {
      name: "an applied migration whose file changed",
      available: [file("0001"), file("0002", { checksum: "9f8e7d6c5b4a3f2e1d0c" })],
      applied: [applied("0001"), applied("0002", { checksum: "1a2b3c4d5e6f7a8b9c0d" })],
      target: "0002",
      problems: [
        "migration `0002_m0002` was applied with checksum 1a2b3c4d5e6f…, the file now hashes to 9f8e7d6c5b4a…; write a new migration instead of editing an applied one, or, when the edit changes nothing the database needs, accept it with `npm run migrations -- accept-checksum --stack STACK --migration 0002_m0002 --reason TEXT`",
      ],
    },
    {
      name: "a changed file even when going down past it",
      available: [file("0001", { checksum: "changed" })],
      applied: [applied("0001")],
      target: "none",
      problems: [
        "migration `0001_m0001` was applied with checksum sum-0001, the file now hashes to changed; write a new migration instead of editing an applied one, or, when the edit changes nothing the database needs, accept it with `npm run migrations -- accept-checksum --stack STACK --migration 0001_m0001 --reason TEXT`",
      ],
    },
    {
      name: "a migration out of order",
      available: files,
      applied: [applied("0001"), applied("0003")],
      target: "0003",
      problems: [
        "migration `0002_m0002` is out of order: it is not applied, but the later migration `0003_m0003` is; renumber its files to an id above 0003 so it runs after the applied ones",
      ],
    },
    {
      name: "an applied migration whose files are gone and that stays applied",
      available: [file("0001"), file("0002")],
      applied: files.map((f) => applied(f.id)),
      target: "0003",
      problems: [
        "migration `0003_m0003` is applied but its files are gone from the migrations folder; restore 0003_m0003.up.sql and its down file, or set the target below 0003 to revert it",
      ],
    },
    {
      name: "a target whose files are gone, since it would stay applied",
      available: [file("0001")],
      applied: files.map((f) => applied(f.id)),
      target: "0002",
      problems: [
        "migration `0002_m0002` is applied but its files are gone from the migrations folder; restore 0002_m0002.up.sql and its down file, or set the target below 0002 to revert it",
      ],
    },
    {
      name: "a gap below the pending migrations",
      available: [file("0002"), file("0003")],
      applied: [applied("0001")],
      target: "0003",
      problems: [
        "migration `0001_m0001` is applied but its files are gone from the migrations folder; restore 0001_m0001.up.sql and its down file, or set the target below 0001 to revert it",
      ],
    },
    {
      name: "going down through an irreversible migration",
      available: files,
      applied: [applied("0001"), applied("0002", { irreversible: true }), applied("0003")],
      target: "0001",
      problems: [
        "migration `0002_m0002` is marked irreversible, so it cannot be reverted by a down script; to reach target 0001, restore the backup taken before it was applied instead",
      ],
    },
    {
      name: "going down through a migration without down SQL",
      available: files,
      applied: [applied("0001", { down: undefined }), applied("0002", { down: undefined })],
      target: "none",
      problems: [
        "migration `0002_m0002` has no down SQL, so it cannot be reverted by a down script; to reach target 0000, restore the backup taken before it was applied instead",
        "migration `0001_m0001` has no down SQL, so it cannot be reverted by a down script; to reach target 0000, restore the backup taken before it was applied instead",
      ],
    },
  ];
  for (const c of rejected) {
    it(`rejects ${c.name}`, () => assert.deepEqual(problemsOf(c.available, c.applied, c.target), c.problems));
  }

  it("uses the problem as the message when there is one, and lists them when there are more", () => {
    assert.throws(() => planMigrations(files, [], "0009"), {
      name: "MigrationPlanError",
      message:
        "target `0009` is not a known migration id; known ids: 0001, 0002, 0003 (or `none` for no migrations); set the target to one of them",
    });
    assert.throws(
      () => planMigrations([file("0001", { checksum: "x" }), file("0002")], [applied("0001")], "0007"),
      {
        message:
          "the migration plan has 2 problems:\n" +
          "  - migration `0001_m0001` was applied with checksum sum-0001, the file now hashes to x; write a new migration instead of editing an applied one, or, when the edit changes nothing the database needs, accept it with `npm run migrations -- accept-checksum --stack STACK --migration 0001_m0001 --reason TEXT`\n" +
          "  - target `0007` is not a known migration id; known ids: 0001, 0002 (or `none` for no migrations); set the target to one of them",
      },
    );
  });
});

describe("checksumProblems", () => {
  it("is empty when every applied file is unchanged or gone", () => {
    assert.deepEqual(
      checksumProblems([file("0001")], [applied("0001"), applied("0002", { checksum: "other" })]),
      [],
    );
  });

  it("names every changed file, by id", () => {
    assert.deepEqual(
      checksumProblems(
        [file("0002", { checksum: "b".repeat(64) }), file("0001", { checksum: "a".repeat(64) })],
        [applied("0002"), applied("0001")],
      ),
      [
        "migration `0001_m0001` was applied with checksum sum-0001, the file now hashes to aaaaaaaaaaaa…; write a new migration instead of editing an applied one, or, when the edit changes nothing the database needs, accept it with `npm run migrations -- accept-checksum --stack STACK --migration 0001_m0001 --reason TEXT`",
        "migration `0002_m0002` was applied with checksum sum-0002, the file now hashes to bbbbbbbbbbbb…; write a new migration instead of editing an applied one, or, when the edit changes nothing the database needs, accept it with `npm run migrations -- accept-checksum --stack STACK --migration 0002_m0002 --reason TEXT`",
      ],
    );
  });
});
