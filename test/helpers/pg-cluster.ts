// A throwaway PostgreSQL cluster (initdb + pg_ctl on a free port, its own temporary directory) that a
// test may stop and restart without touching the machine's server. One implementation, shared with
// the replicas benchmark: bench/pg-cluster.mjs.
export { freePort, postgresBin, startPgCluster, type PgCluster } from '../../bench/pg-cluster.mjs';
