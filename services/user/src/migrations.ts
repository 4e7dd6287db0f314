import type { Migration } from '@nova/service-kit';

/** The user service's schema, in order. Never edit an applied migration: add one. */
export const migrations: Migration[] = [
  {
    id: '001-users',
    sql: `
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL,
        name text NOT NULL,
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX users_email_key ON users (lower(email));`,
  },
];
