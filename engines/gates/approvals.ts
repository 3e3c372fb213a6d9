// Approvals a stack requires before a rollout (e.g. tech-lead and dba for prod). Pure.

/** One recorded approval, kept in stack config so it lands in history with the release. */
export interface Approval {
  /** The role approving, e.g. `tech-lead`. */
  readonly role: string;
  /** Who approved. */
  readonly by: string;
  /** The release id approved, for people reading the config. */
  readonly release: string;
  /** The release digest approved (what preview prints, or its first 12+ hex digits). */
  readonly digest: string;
}

/** What is being released: its label and the digest of its content. */
export interface ReleaseIdentity {
  readonly id: string;
  /** Hex SHA-256 of the release's content (see rollout/identity.ts). */
  readonly digest: string;
}

/** Whether `approval` is for exactly this content: same id, digest a prefix of the release's. */
function approves(approval: Approval, release: ReleaseIdentity): boolean {
  return approval.release === release.id && release.digest.startsWith(approval.digest);
}

/** Problems with the approvals for `release`, each naming the role and how to record it. */
export function approvalProblems(
  required: readonly string[],
  given: readonly Approval[],
  release: ReleaseIdentity,
): string[] {
  const short = release.digest.slice(0, 12);
  const problems: string[] = [];
  for (const role of required) {
    const forRole = given.filter((a) => a.role === role);
    if (forRole.some((a) => approves(a, release))) continue;
    const stale = forRole.map((a) => `${a.by} for ${a.release} (digest ${a.digest.slice(0, 12)})`);
    problems.push(
      `approval by \`${role}\` for release ${release.id} (digest ${short}) is missing` +
        (stale.length > 0
          ? ` (found only: ${stale.join(", ")}; an approval of other content does not count)`
          : "") +
        `; add {role: ${role}, by: <name>, release: "${release.id}", digest: "${short}"} under rollout:approvals.given in Pulumi.<stack>.yaml`,
    );
  }
  return problems;
}
