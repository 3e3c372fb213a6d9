export * from "./postgres";
export * from "./retention";
