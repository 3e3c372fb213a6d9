export * from "./program";
export * from "./report";
export * from "./Rollout";
