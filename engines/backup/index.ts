export * from "./leftovers";
export * from "./postgres";
export * from "./retention";
export * from "./locked";
export * from "./copies";
export * from "./archive";
export * from "./mysql";
