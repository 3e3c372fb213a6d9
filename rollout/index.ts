export * from "./identity";
export * from "./program";
export * from "./report";
export * from "./Rollout";
export * from "./wiring";
