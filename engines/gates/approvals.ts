// Approvals a stack requires before a rollout (e.g. tech-lead and dba for prod). Pure.

/** One recorded approval, kept in stack config so it lands in history with the release. */
export interface Approval {
  /** The role approving, e.g. `tech-lead`. */
  readonly role: string;
  /** Who approved. */
  readonly by: string;
  /** The release id approved; an approval of another release does not count. */
  readonly release: string;
}

/** Problems with the approvals for `release`, each naming the role and how to record it. */
export function approvalProblems(
  required: readonly string[],
  given: readonly Approval[],
  release: string,
): string[] {
  const problems: string[] = [];
  for (const role of required) {
    const forRole = given.filter((a) => a.role === role);
    if (forRole.some((a) => a.release === release)) continue;
    const stale = forRole.map((a) => `${a.by} for ${a.release}`);
    problems.push(
      `approval by \`${role}\` for release ${release} is missing` +
        (stale.length > 0 ? ` (found only: ${stale.join(", ")})` : "") +
        `; add {role: ${role}, by: <name>, release: "${release}"} under rollout:approvals.given in Pulumi.<stack>.yaml`,
    );
  }
  return problems;
}
