export * from "./checks/http";
export * from "./config";
export * from "./ContainerRelease";
export * from "./DatabaseObjects";
export * from "./HealthCheck";
export * from "./Rollout";
export * from "./sources";
