// The config of command steps: its defaults, and a refusal naming the key, the value and the fix
// for each kind of bad value.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../config";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const secrets = {
  databasePassword: true,
  appDatabasePassword: true,
  sshPrivateKey: true,
  smokePassword: true,
};
const withCommands = (...commands: Record<string, unknown>[]) => minimalRawConfig({ commands });

describe("rollout:commands", () => {
  it("fills the defaults: here, every release, exit 0, five minutes", () => {
    const config = loadConfig(
      "dev",
      withCommands({ name: "pm2-restart", at: "afterServices", run: "pm2 restart app" }),
      secrets,
    );
    assert.deepEqual(config.commands, [
      {
        name: "pm2-restart",
        at: "afterServices",
        run: "pm2 restart app",
        env: {},
        secretEnv: {},
        timeoutSeconds: 300,
        expectExit: 0,
        outputMustContain: [],
        outputMustNotContain: [],
        runsWhen: "everyRelease",
      },
    ]);
    assert.deepEqual(loadConfig("dev", minimalRawConfig(), secrets).commands, []);
  });

  it("takes an SSH host in the shared SSH target shape, port 22 by default", () => {
    const config = loadConfig(
      "dev",
      withCommands({
        name: "unit",
        at: "afterChecks",
        run: ["systemctl", "--user", "restart", "worker"],
        ssh: { host: "deploy@10.0.0.5", keySecret: "sshPrivateKey", knownHostsFile: "ops/known_hosts" },
        revert: ["systemctl", "--user", "stop", "worker"],
        runsWhen: "onChange",
      }),
      secrets,
    );
    assert.deepEqual(config.commands[0].ssh, {
      host: "deploy@10.0.0.5",
      port: 22,
      keySecret: "sshPrivateKey",
      knownHostsFile: "ops/known_hosts",
    });
  });

  const cases: {
    name: string;
    commands: Record<string, unknown>[];
    secrets?: Record<string, boolean>;
    expect: string[];
  }[] = [
    {
      name: "an unknown point and an empty argv",
      commands: [
        { name: "gen", at: "afterBackup", run: [] },
        { name: "gen2", at: "afterSchema", run: 5 },
      ],
      expect: [
        'rollout:commands[0].at is invalid (expected one of "beforeBackup"|"afterSchema"|"afterServices"|"afterChecks"): got "afterBackup". Fix: set it with `pulumi config set --path \'rollout:commands[0].at\' <value>`.',
        'rollout:commands[0].run is invalid (an argv array needs at least the program, e.g. ["npx", "prisma", "generate"]): got []. Fix: set it with `pulumi config set --path \'rollout:commands[0].run\' <value>`.',
        'rollout:commands[1].run is invalid (must be a command string (run with /bin/sh -c) or an argv array such as ["npx", "prisma", "generate"]): got 5. Fix: set it with `pulumi config set --path \'rollout:commands[1].run\' <value>`.',
      ],
    },
    {
      name: "a pattern that is not a regular expression, and an exit code out of range",
      commands: [
        {
          name: "review",
          at: "afterSchema",
          run: "alembic upgrade head --sql",
          outputMustContain: ["(BEGIN"],
          expectExit: 300,
        },
      ],
      expect: [
        "rollout:commands[0].expectExit is invalid (Too big: expected number to be <=255): got 300. Fix: set it with `pulumi config set --path 'rollout:commands[0].expectExit' <value>`.",
        "rollout:commands[0].outputMustContain[0] is invalid (is not a regular expression (Invalid regular expression: /(BEGIN/: Unterminated group)): got \"(BEGIN\". Fix: set it with `pulumi config set --path 'rollout:commands[0].outputMustContain[0]' <value>`.",
      ],
    },
    {
      name: "an SSH host without user@, without a host key source, and two commands of one name",
      commands: [
        { name: "a", at: "afterServices", run: "true", ssh: { host: "10.0.0.5", keyFile: "k" } },
        { name: "a", at: "afterChecks", run: "true" },
      ],
      expect: [
        'rollout:commands[0].ssh.host is invalid (must be user@host, e.g. "deploy@10.0.0.5" or "root@backup.example.com"): got "10.0.0.5". Fix: set it with `pulumi config set --path \'rollout:commands[0].ssh.host\' <value>`.',
        'rollout:commands[0].ssh is invalid (give exactly one of hostKey (the host\'s public key line, from `ssh-keyscan -p PORT HOST`) or knownHostsFile (a known_hosts file listing the host); the host\'s key is always checked): got {"host":"10.0.0.5","keyFile":"k"}. Fix: set it with `pulumi config set --path \'rollout:commands[0].ssh\' <value>`.',
        "rollout:commands[1].name is invalid (is used by another command; each command needs its own name): got \"a\". Fix: set it with `pulumi config set --path 'rollout:commands[1].name' <value>`.",
      ],
    },
    {
      name: "secrets the stack lacks",
      commands: [
        {
          name: "a",
          at: "afterServices",
          run: "true",
          secretEnv: { TOKEN: "apiToken", PASS: "smokePassword" },
          ssh: {
            host: "d@h",
            keySecret: "sshPrivateKey",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample",
          },
        },
      ],
      secrets: { databasePassword: true, appDatabasePassword: true },
      expect: [
        "rollout:secrets.apiToken is missing (rollout:commands[0].secretEnv.TOKEN refers to it). Fix: `pulumi config set --secret rollout:secrets.apiToken <value>`.",
        "rollout:smokePassword is missing (rollout:commands[0].secretEnv.PASS refers to it). Fix: `pulumi config set --secret rollout:smokePassword <value>`.",
        "rollout:sshPrivateKey is missing (rollout:commands[0].ssh.keySecret refers to it). Fix: `pulumi config set --secret rollout:sshPrivateKey <value>`.",
      ],
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}, naming the key, the value and the fix`, () => {
      assert.deepEqual(
        configProblems(withCommands(...c.commands), c.secrets ?? secrets).sort(),
        [...c.expect].sort(),
      );
    });
  }
});
