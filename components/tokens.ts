// The names state is written under: component type tokens, dynamic resource types and child name
// suffixes, and the facts a release records. One module, read by the components that register
// them and by deploy/ that finds them again in exported state. No imports: pure data.

/** The module of every dynamic resource: their type is `pulumi-nodejs:dynamic/rollout:<dynamicType>`. */
export const DYNAMIC_MODULE = "rollout";

/** A recorded run's dynamic type and the suffix of its name under its component. */
export interface RunNames {
  readonly dynamicType: string;
  readonly suffix: string;
}

/** A component around one recorded run: its type token and its run's names. */
export interface StepNames extends RunNames {
  readonly token: string;
}

/** Renaming any of these changes URNs in existing stacks: a rename needs an alias. */
export const STEPS = {
  preflight: { token: "rollout:preflight:Preflight", dynamicType: "Preflight", suffix: "run" },
  announcement: { token: "rollout:announce:Announcement", dynamicType: "Announcement", suffix: "send" },
  maintenanceMode: {
    token: "rollout:maintenance:MaintenanceMode",
    dynamicType: "MaintenanceMode",
    suffix: "switch",
  },
  backup: { token: "rollout:backup:DatabaseBackup", dynamicType: "DatabaseBackup", suffix: "dump" },
  restore: { token: "rollout:backup:DatabaseRestore", dynamicType: "DatabaseRestore", suffix: "restore" },
  schema: { token: "rollout:database:Schema", dynamicType: "Schema", suffix: "state" },
  mysqlAppUser: { token: "rollout:database:MysqlAppUser", dynamicType: "MysqlAppUser", suffix: "grant" },
  imageBuild: { dynamicType: "ImageBuild", suffix: "image" },
  healthCheck: { token: "rollout:checks:HealthCheck", dynamicType: "HttpCheck", suffix: "run" },
  sqlCheck: { token: "rollout:checks:SqlCheck", dynamicType: "SqlCheck", suffix: "run" },
  smokeTest: { token: "rollout:checks:SmokeTest", dynamicType: "SmokeTest", suffix: "run" },
  logCheck: { token: "rollout:checks:LogCheck", dynamicType: "LogCheck", suffix: "run" },
  servicesCheck: { token: "rollout:checks:ServicesCheck", dynamicType: "ServicesCheck", suffix: "run" },
  wsCheck: { token: "rollout:checks:WebSocketCheck", dynamicType: "WebSocketCheck", suffix: "run" },
  soak: { token: "rollout:checks:Soak", dynamicType: "Soak", suffix: "run" },
  baseline: { token: "rollout:checks:Baseline", dynamicType: "Baseline", suffix: "run" },
  command: { token: "rollout:commands:Command", dynamicType: "Command", suffix: "run" },
  marker: { token: "rollout:index:ReleaseMarker", dynamicType: "ReleaseMarker", suffix: "record" },
  reportFiles: { token: "rollout:report:ReportFiles", dynamicType: "ReportFiles", suffix: "write" },
} as const satisfies Record<string, RunNames & { token?: string }>;

/** Type tokens of the components that are not a single recorded run. */
export const TOKENS = {
  rollout: "rollout:index:Rollout",
  databaseObjects: "rollout:database:DatabaseObjects",
  containerRelease: "rollout:release:ContainerRelease",
} as const;

/** The full resource type of a dynamic resource in exported state. */
export function dynamicTypeToken(step: RunNames): string {
  return `pulumi-nodejs:dynamic/${DYNAMIC_MODULE}:${step.dynamicType}`;
}

/** What a successful rollout records as released (the release marker). */
export interface ReleaseFacts {
  readonly release: string;
  /** The release digest (rollout/identity.ts). */
  readonly digest: string;
  readonly image: string;
  readonly imageId: string;
  readonly schemaVersion: string;
  /** The other services' image references and ids, by name; absent for a release of the app alone. */
  readonly services?: Record<string, ServiceImage>;
}

/** The image a service ran: its reference and id. */
export interface ServiceImage {
  readonly image: string;
  readonly imageId: string;
}
