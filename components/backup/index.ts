export * from "./pgBackup";
export * from "./retention";
