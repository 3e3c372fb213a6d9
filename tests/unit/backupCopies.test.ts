// Backup copies: their config (shape, defaults, the secrets they name) and the retention of each
// place, table-driven over file names.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../config";
import { copiesToRemove } from "../../engines/backup";
import { copyTargets } from "../../deploy/cli";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const base = { databasePassword: true, appDatabasePassword: true };
const withS3Keys = { ...base, s3AccessKey: true, s3SecretKey: true };

const withBackup = (backup: Record<string, unknown>) =>
  minimalRawConfig({ backup: { dir: "backups", ...backup } });

const problemsOf = configProblems;

describe("backup.copies config", () => {
  it("a stack without copies has none and needs only its local file", () => {
    const { backup } = loadConfig("dev", withBackup({}), base);
    assert.deepEqual(backup?.copies, []);
    assert.equal(backup?.requiredCopies, 1);
  });

  it("fills each copy's defaults and requires every copy by default", () => {
    const { backup } = loadConfig(
      "dev",
      withBackup({
        copies: [
          { kind: "s3", region: "eu-west-1", bucket: "prod-backups" },
          { kind: "dir", path: "/mnt/second-disk", keep: 3 },
        ],
      }),
      withS3Keys,
    );
    assert.deepEqual(backup?.copies, [
      {
        kind: "s3",
        region: "eu-west-1",
        bucket: "prod-backups",
        prefix: "",
        accessKeySecret: "s3AccessKey",
        secretKeySecret: "s3SecretKey",
        keep: 10,
      },
      { kind: "dir", path: "/mnt/second-disk", keep: 3 },
    ]);
    assert.equal(backup?.requiredCopies, 3);
  });

  it("fills an SSH copy's port and keeps its key and host key sources", () => {
    const { backup } = loadConfig(
      "dev",
      withBackup({
        copies: [
          {
            kind: "ssh",
            host: "backup@10.0.0.9",
            keySecret: "sshPrivateKey",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            path: "/srv/backups",
          },
        ],
      }),
      { ...base, sshPrivateKey: true },
    );
    assert.deepEqual(backup?.copies, [
      {
        kind: "ssh",
        host: "backup@10.0.0.9",
        port: 22,
        keySecret: "sshPrivateKey",
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        path: "/srv/backups",
        keep: 10,
      },
    ]);
  });

  it("takes a lower requiredCopies", () => {
    const { backup } = loadConfig(
      "dev",
      withBackup({ copies: [{ kind: "dir", path: "/mnt/a" }], requiredCopies: 1 }),
      base,
    );
    assert.equal(backup?.requiredCopies, 1);
  });

  const cases: {
    name: string;
    backup: Record<string, unknown>;
    secrets?: Record<string, boolean>;
    expect: string[];
  }[] = [
    {
      name: "more required copies than places",
      backup: { copies: [{ kind: "dir", path: "/mnt/a" }], requiredCopies: 3 },
      expect: [
        "rollout:backup.requiredCopies is invalid (is more than the 2 copies there are (the local file and 1 in backup.copies)): got 3. Fix: set it with `pulumi config set --path 'rollout:backup.requiredCopies' <value>`.",
      ],
    },
    {
      name: "S3 keys not set",
      backup: { copies: [{ kind: "s3", region: "eu-west-1", bucket: "b-1" }] },
      secrets: base,
      expect: [
        "rollout:s3AccessKey is missing (rollout:backup.copies[0].accessKeySecret refers to it). Fix: `pulumi config set --secret rollout:s3AccessKey <value>`.",
        "rollout:s3SecretKey is missing (rollout:backup.copies[0].secretKeySecret refers to it). Fix: `pulumi config set --secret rollout:s3SecretKey <value>`.",
      ],
    },
    {
      name: "a secret name that the stack does not declare",
      backup: { copies: [{ kind: "s3", region: "eu-west-1", bucket: "b-1", secretKeySecret: "awsSecret" }] },
      secrets: withS3Keys,
      expect: [
        "rollout:secrets.awsSecret is missing (rollout:backup.copies[0].secretKeySecret refers to it). Fix: `pulumi config set --secret rollout:secrets.awsSecret <value>`.",
      ],
    },
    {
      name: "keep of 1 in a copy",
      backup: { copies: [{ kind: "dir", path: "/mnt/a", keep: 1 }] },
      expect: [
        "rollout:backup.copies[0].keep is invalid (must be 0 (keep all) or at least 2, so the backup taken before the current release outlives the next one): got 1. Fix: set it with `pulumi config set --path 'rollout:backup.copies[0].keep' <value>`.",
      ],
    },
    {
      name: "an unknown kind",
      backup: { copies: [{ kind: "ftp", path: "/x" }] },
      expect: [
        'rollout:backup.copies[0].kind is invalid (kind must be "s3" (a bucket), "dir" (a folder) or "ssh" (a folder on a host over SSH)): got "ftp". Fix: set it with `pulumi config set --path \'rollout:backup.copies[0].kind\' <value>`.',
      ],
    },
    {
      name: "an SSH copy with neither a key nor a host key",
      backup: { copies: [{ kind: "ssh", host: "backup@10.0.0.9", path: "/srv/backups" }] },
      expect: [
        'rollout:backup.copies[0] is invalid (give exactly one of keySecret (the name of a secret config key holding the private key, e.g. sshPrivateKey) or keyFile (a key file\'s path)): got {"kind":"ssh","host":"backup@10.0.0.9","path":"/srv/backu.... Fix: set it with `pulumi config set --path \'rollout:backup.copies[0]\' <value>`.',
        'rollout:backup.copies[0] is invalid (give exactly one of hostKey (the host\'s public key line, from `ssh-keyscan -p PORT HOST`) or knownHostsFile (a known_hosts file listing the host); the host\'s key is always checked): got {"kind":"ssh","host":"backup@10.0.0.9","path":"/srv/backu.... Fix: set it with `pulumi config set --path \'rollout:backup.copies[0]\' <value>`.',
      ],
    },
    {
      name: "an SSH copy with a relative path and a host without a user",
      backup: {
        copies: [
          {
            kind: "ssh",
            host: "backup@10.0.0.9",
            keySecret: "sshPrivateKey",
            knownHostsFile: "kh",
            path: "/srv",
          },
          { kind: "ssh", host: "10.0.0.9", keyFile: "k", hostKey: "ssh-ed25519 AAAAC3Nza", path: "srv" },
        ],
      },
      expect: [
        'rollout:backup.copies[1].host is invalid (must be user@host, e.g. "deploy@10.0.0.5" or "root@backup.example.com"): got "10.0.0.9". Fix: set it with `pulumi config set --path \'rollout:backup.copies[1].host\' <value>`.',
        "rollout:backup.copies[1].path is invalid (must be an absolute path on the host, e.g. /srv/backups): got \"srv\". Fix: set it with `pulumi config set --path 'rollout:backup.copies[1].path' <value>`.",
      ],
    },
    {
      name: "an SSH copy whose key secret is not set",
      backup: {
        copies: [
          {
            kind: "ssh",
            host: "backup@10.0.0.9",
            keySecret: "sshPrivateKey",
            knownHostsFile: "kh",
            path: "/srv",
          },
        ],
      },
      expect: [
        "rollout:sshPrivateKey is missing (rollout:backup.copies[0].keySecret refers to it). Fix: `pulumi config set --secret rollout:sshPrivateKey <value>`.",
      ],
    },
    {
      name: "an endpoint that is not a URL",
      backup: { copies: [{ kind: "s3", endpoint: "localhost:9000", region: "r", bucket: "b-1" }] },
      secrets: withS3Keys,
      expect: [
        "rollout:backup.copies[0].endpoint is invalid (Invalid URL): got \"localhost:9000\". Fix: set it with `pulumi config set --path 'rollout:backup.copies[0].endpoint' <value>`.",
      ],
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      assert.deepEqual(problemsOf(withBackup(c.backup), c.secrets ?? base), c.expect);
    });
  }
});

describe("copiesToRemove", () => {
  const names = [
    "prod_1.0.0_20260101T100000Z.dump",
    "prod_1.1.0_20260102T100000Z.dump",
    "prod_1.2.0_20260103T100000Z.dump",
    "prod_1.3.0_20260104T100000Z.dump",
    "prod_1.3.0_20260104T100000Z.dump.sha256",
    "staging_1.0.0_20250101T100000Z.dump",
    "notes.txt",
  ];
  const cases: { name: string; keep: number; protect: string[]; expect: string[] }[] = [
    { name: "keep 0 keeps all", keep: 0, protect: [], expect: [] },
    {
      name: "keep 2 removes the oldest two, oldest first",
      keep: 2,
      protect: [],
      expect: ["prod_1.0.0_20260101T100000Z.dump", "prod_1.1.0_20260102T100000Z.dump"],
    },
    {
      name: "a protected name survives whatever its age",
      keep: 2,
      protect: ["prod_1.0.0_20260101T100000Z.dump"],
      expect: ["prod_1.1.0_20260102T100000Z.dump"],
    },
    { name: "more kept than there are", keep: 10, protect: [], expect: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      // Other stacks' copies, sidecars and foreign files are never in the list.
      assert.deepEqual(copiesToRemove(names, "prod", c.keep, c.protect), c.expect);
    });
  }
  it("refuses a keep that is not a whole number", () => {
    assert.throws(
      () => copiesToRemove(names, "prod", 1.5, []),
      /copy retention keep=1.5 is not a whole number/,
    );
  });
});

describe("backup.archives config", () => {
  it("fills each archive's defaults, a host's port included", () => {
    const { backup } = loadConfig(
      "dev",
      withBackup({
        archives: [
          { name: "uploads", path: "/srv/uploads" },
          {
            name: "config",
            path: "/etc/app",
            host: { host: "deploy@10.0.0.5", keyFile: "/k", knownHostsFile: "/kh" },
            excludes: ["*.bak"],
          },
        ],
      }),
      base,
    );
    assert.deepEqual(backup?.archives, [
      { name: "uploads", path: "/srv/uploads", excludes: [], minFiles: 1 },
      {
        name: "config",
        path: "/etc/app",
        host: { host: "deploy@10.0.0.5", port: 22, keyFile: "/k", knownHostsFile: "/kh" },
        excludes: ["*.bak"],
        minFiles: 1,
      },
    ]);
  });

  const cases: { name: string; archives: unknown[]; expect: string[] }[] = [
    {
      name: "two archives of one name, a relative path and an absolute exclude",
      archives: [
        { name: "uploads", path: "/srv/a" },
        { name: "uploads", path: "srv/b", excludes: ["/tmp"] },
      ],
      expect: [
        "rollout:backup.archives[1].path is invalid (must be the directory's absolute path, e.g. /srv/app/uploads): got \"srv/b\". Fix: set it with `pulumi config set --path 'rollout:backup.archives[1].path' <value>`.",
        "rollout:backup.archives[1].excludes[0] is invalid (must be relative to the directory (no leading /)): got \"/tmp\". Fix: set it with `pulumi config set --path 'rollout:backup.archives[1].excludes[0]' <value>`.",
        "rollout:backup.archives[1].name is invalid (is the name of an earlier archive too; give each archive its own name): got \"uploads\". Fix: set it with `pulumi config set --path 'rollout:backup.archives[1].name' <value>`.",
      ],
    },
    {
      name: "a host whose key secret is not set",
      archives: [
        {
          name: "uploads",
          path: "/srv/a",
          host: { host: "deploy@10.0.0.5", keySecret: "sshPrivateKey", knownHostsFile: "/kh" },
        },
      ],
      expect: [
        "rollout:sshPrivateKey is missing (rollout:backup.archives[0].host.keySecret refers to it). Fix: `pulumi config set --secret rollout:sshPrivateKey <value>`.",
      ],
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      assert.deepEqual(problemsOf(withBackup({ archives: c.archives }), base), c.expect);
    });
  }
});

describe("the copies a rollback fetches from", () => {
  it("take their S3 and SSH keys from named secrets as the program does", () => {
    const config = loadConfig(
      "prod",
      withBackup({
        copies: [
          {
            kind: "s3",
            region: "eu-west-1",
            bucket: "prod-backups",
            accessKeySecret: "offsiteKeyId",
            secretKeySecret: "offsiteKey",
          },
          {
            kind: "ssh",
            host: "backup@127.0.0.1",
            port: 52222,
            path: "/srv/backups",
            keySecret: "backupHostKey",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample",
          },
        ],
      }),
      { ...base, offsiteKeyId: true, offsiteKey: true, backupHostKey: true },
    );
    const entries = {
      "rollout:secrets.offsiteKeyId": { value: "AKIA-named", secret: true },
      "rollout:secrets.offsiteKey": { value: "named-secret-key", secret: true },
      "rollout:secrets.backupHostKey": { value: "-----BEGIN OPENSSH PRIVATE KEY-----", secret: true },
    };
    const [s3, ssh] = copyTargets(config, entries);
    assert.equal(s3.kind === "s3" && s3.accessKeyId, "AKIA-named");
    assert.equal(s3.kind === "s3" && s3.secretAccessKey, "named-secret-key");
    assert.equal(ssh.kind === "ssh" && ssh.privateKey, "-----BEGIN OPENSSH PRIVATE KEY-----");
    assert.throws(
      () =>
        copyTargets(
          config,
          Object.fromEntries(Object.entries(entries).filter(([key]) => key !== "rollout:secrets.offsiteKey")),
        ),
      /secret rollout:secrets\.offsiteKey is not set; a copy needs it/,
    );
  });
});

describe("backup.archives paths", () => {
  for (const bad of ["/", "//", "/srv/app/../..", "/srv/../etc"]) {
    it(`refuses ${JSON.stringify(bad)}, as a restore replaces everything in the directory`, () => {
      const problems = problemsOf(withBackup({ archives: [{ name: "files", path: bad }] }), base);
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(
        problems[0],
        /^rollout:backup\.archives\[0\]\.path is invalid \(must name one directory, not \/ and without `\.\.` \(a restore replaces everything in it\)\): got /,
      );
    });
  }
});
