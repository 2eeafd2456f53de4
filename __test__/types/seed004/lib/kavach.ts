// Seed 004, "Database adapter" AFTER, verbatim.
import { createKavach } from 'kavachos';

export const kavach = createKavach({
  database: { provider: 'postgres', url: process.env.DATABASE_URL! },
});
