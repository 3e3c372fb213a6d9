export * from "./files";
export * from "./plan";
export * from "./runner";
