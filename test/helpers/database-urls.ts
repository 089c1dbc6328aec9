/**
 * The PostgreSQL and MariaDB servers the tests use, with the environment variables that move them.
 * Shared by the sql-migrations tests and the preflight that checks, before any test runs, that both
 * answer.
 */
export const POSTGRES_URL = process.env.LOCKSTEP_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.LOCKSTEP_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
