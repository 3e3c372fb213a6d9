// How the SSH engine calls the system client: the options that keep a login key-only and the host's
// key checked, the known_hosts line a pinned key becomes, and quoting for the remote shell.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { knownHostsLine, shellQuote, sshArgs } from "../../engines/ssh";

describe("ssh engine", () => {
  it("always checks the host key, never prompts and uses only the given key", () => {
    const args = sshArgs({ host: "backup@10.0.0.9", port: 2222 }, "/tmp/k", "/tmp/kh");
    const options = args.flatMap((a, i) => (args[i - 1] === "-o" ? [a] : []));
    for (const o of [
      "StrictHostKeyChecking=yes",
      "UserKnownHostsFile=/tmp/kh",
      "GlobalKnownHostsFile=/dev/null",
      "BatchMode=yes",
      "PasswordAuthentication=no",
      "KbdInteractiveAuthentication=no",
      "IdentitiesOnly=yes",
      "IdentityAgent=none",
    ]) {
      assert.ok(options.includes(o), o);
    }
    assert.deepEqual(args.slice(0, 4), ["-p", "2222", "-i", "/tmp/k"]);
    assert.deepEqual(args.slice(-3), ["-F", "none", "backup@10.0.0.9"]);
  });

  const cases = [
    { host: "backup@10.0.0.9", port: 22, expect: "10.0.0.9 ssh-ed25519 AAAA\n" },
    { host: "root@127.0.0.1", port: 52222, expect: "[127.0.0.1]:52222 ssh-ed25519 AAAA\n" },
  ];
  for (const c of cases) {
    it(`pins the host key of ${c.host}:${c.port} as known_hosts writes it`, () => {
      assert.equal(knownHostsLine(c, "ssh-ed25519 AAAA"), c.expect);
    });
  }

  it("quotes any text as one word for the remote shell", () => {
    for (const value of ["plain", "with space", "it's", "$(rm -rf /)", "a\nb", "`x`;y"]) {
      assert.equal(execFileSync("sh", ["-c", `printf %s ${shellQuote(value)}`], { encoding: "utf8" }), value);
    }
  });
});
