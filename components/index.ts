export * from "./ContainerRelease";
export * from "./DatabaseBackup";
export * from "./DatabaseObjects";
export * from "./ReleaseMarker";
export * from "./Schema";
export * from "./steps";
export * from "./tokens";
export { canonical } from "./runOnce";
