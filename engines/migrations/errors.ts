// The error a migration run throws, in a module of its own so both engines' runners share it.
// Plain class only: dynamic providers are serialized by value.

/** A migration run that failed; earlier steps stay applied and recorded. */
export class MigrationError extends Error {
  constructor(
    message: string,
    /** The migration that failed, e.g. `0004_add_status`; absent when no step had started. */
    readonly migration?: string,
    /** The highest applied id after the failure. */
    readonly version?: string,
    /** SQLSTATE of the database error, when there was one. */
    readonly sqlState?: string,
  ) {
    super(message);
    // Set again: in a dynamic provider this class is serialized by value, and there the call to
    // Error's constructor does not initialise \`this\`, which would leave the message empty.
    this.message = message;
    this.name = "MigrationError";
  }
}
