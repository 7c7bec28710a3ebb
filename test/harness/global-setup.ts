// Filled in by the database harness: creates and drops the per-run Postgres database.
export default async function setup(): Promise<void> {}
