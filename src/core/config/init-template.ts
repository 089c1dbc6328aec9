/**
 * The `lockstep.yaml` that `lockstep init` writes: a small, commented, valid project that shows
 * each concept once. test/core/config/init-template.test.ts loads it with a `command` adapter, so
 * it stays valid as the schema changes.
 */
export function initTemplate(): string {
  return TEMPLATE;
}

const TEMPLATE = `# lockstep.yaml: what your system is made of and how a release moves through it.
# Check it with \`lockstep validate\`; \`lockstep schema\` prints a JSON Schema for your editor.
project: shop

# People, by group; gates refer to them as group:<name>.
groups:
  sre: [alice@example.com, bob@example.com, carol@example.com]

# The path a release takes: dev, then staging, then prod. \`vars\` bind each environment to what
# every system calls it (an account, a region, a database), so "prod" means one thing everywhere.
# Vars may use \${{ env.name }} and \${{ secrets.NAME }}; secrets are never stored or logged.
environments:
  dev:
    vars:
      region: eu-central-1
      replicas: 1
      database_url: "\${{ secrets.DEV_DATABASE_URL }}"
  staging:
    after: [dev]                # a release must have succeeded in dev first
    vars:
      region: eu-central-1
      replicas: 2
      database_url: "\${{ secrets.STAGING_DATABASE_URL }}"
  prod:
    after: [staging]
    description: customers use this one
    onFailure: rollback         # or halt: stop where it failed and let a person decide
    vars:
      region: eu-west-1
      replicas: 4
      database_url: "\${{ secrets.PROD_DATABASE_URL }}"
    # What must hold before a promotion runs here (see docs/gates.md): two people of the sre
    # group, neither the requester nor the release's author; the release ran in staging for an
    # hour; not on Fridays; and a check of the environment afterwards.
    gates:
      approvals: { count: 2, from: [group:sre], expires: 24h }
      soak: 1h
      windows:
        - { deny: "Fri-Sun", timezone: Europe/Berlin, reason: "no weekend deploys" }
      policy:
        - expr: "!plan.irreversible || approvals.count >= 2"
          message: "irreversible changes need two approvals"
      verify:
        - command: { run: ["./scripts/smoke-test.sh", "\${{ env.name }}"] }
          interval: 30s
          count: 3

# The parts of your system. Each has a type (how it is deployed) and settings under \`with\`.
# A \`command\` component runs programs with arguments (no shell); strings may hold
# \${{ }} expressions: env.name, env.vars.<name>, version (this component's version in the
# release), previousVersion, release.id, components.<name>.version,
# components.<name>.outputs.<output> and secrets.<NAME>. \`lockstep schema\` lists every field
# each type takes.
components:
  infra:
    type: command
    description: network and queues; prints its outputs for the components that need them
    with:
      apply: ["./scripts/infra.sh", "apply", "\${{ env.name }}", "\${{ env.vars.region }}"]
      timeout: 20m
    outputs:
      # Outputs are typed: \`lockstep validate\` checks that every use fits the type, and each
      # value is checked against it before any other component sees it.
      queue_url: { type: string, pattern: "^https://" }

  schema:
    type: command
    description: database migrations; no rollback command, so Lockstep treats it as forward-only
    with:
      apply: ["./scripts/migrate.sh", "--to", "\${{ version }}"]
      env:
        DATABASE_URL: "\${{ env.vars.database_url }}"

  api:
    type: command
    dependsOn: [schema]         # infra is a dependency already, through the reference below
    with:
      apply: ["./scripts/deploy.sh", "api", "\${{ version }}"]
      verify: ["./scripts/healthcheck.sh", "api"]                          # exit 0 = healthy
      rollback: ["./scripts/deploy.sh", "api", "\${{ previousVersion }}"]  # makes it reversible
      observe: ["./scripts/running-version.sh", "api"]                     # prints what runs now
      idempotent: true          # deploying the same version twice is safe: may re-run after a crash
      env:
        QUEUE_URL: "\${{ components.infra.outputs.queue_url }}"
        REPLICAS: "\${{ env.vars.replicas }}"

  worker:
    type: command
    with:
      apply: ["./scripts/deploy.sh", "worker", "\${{ version }}"]
      env:
        QUEUE_URL: "\${{ components.infra.outputs.queue_url }}"
`;
