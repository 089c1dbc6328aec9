// Renders bench/results/latest.md from the results object: one table per benchmark and the
// issue's targets with how far each figure is from it.

function table(headers, rows) {
  return [
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function target(name, value, limit, unit, lowerIsBetter = true) {
  if (value === undefined || value === null || Number.isNaN(value))
    return [name, 'not measured', `${limit} ${unit}`, '-'];
  const met = lowerIsBetter ? value <= limit : value >= limit;
  return [
    name,
    `${value} ${unit}`,
    `${lowerIsBetter ? '≤' : '≥'} ${limit} ${unit}`,
    met ? 'met' : `missed (${(value / limit).toFixed(2)}× the target)`,
  ];
}

export function targets(results) {
  const b = results.benchmarks;
  const dag = b.dag?.result ?? [];
  const sleep200 = dag.find((r) => r.components === 200 && r.work.startsWith('sleep'));
  const true200 = dag.find((r) => r.components === 200 && r.work === 'true');
  const vp = (b.validatePlan?.result ?? []).find((r) => r.components === 5000 && !r.handoffs);
  const million = (b.audit?.result?.verify ?? []).find((r) => r.entries === 1_000_000);
  const hundredK = (b.audit?.result?.verify ?? []).find((r) => r.entries === 100_000);
  const rows = [
    target('DAG 200 sleeping steps vs make -j8', sleep200?.vsMake, 1.1, '×'),
    target('DAG 200 sleeping steps: speed-up over sequential', sleep200?.speedupVsSequential, 5, '×', false),
    target('engine overhead per zero-work step (200 steps, vs make)', true200?.overheadPerStepVsMakeMs, 5, 'ms'),
    target('validate + plan of 5,000 components: time', vp?.validatePlusPlanS, 2, 's'),
    target('validate + plan of 5,000 components: peak memory', vp?.peakMb, 300, 'MB'),
    target('promote to first step started, p50', b.throughput?.result?.firstStepP50Ms, 100, 'ms'),
    target('promote through the server to first step started, p50', b.server?.result?.firstStepP50Ms, 100, 'ms'),
    million
      ? target('audit verify of 1,000,000 entries', million.verifyS, 10, 's')
      : target(
          'audit verify of 1,000,000 entries (extrapolated ×10 from 100,000)',
          hundredK ? Math.round(hundredK.verifyS * 100) / 10 : undefined,
          10,
          's',
        ),
    target('gitops warm vs bare git', b.gitops?.result?.warmVsGit, 1.3, '×'),
    ...(b.exactlyOnce?.result
      ? [target('seeds where a component was applied other than exactly once', b.exactlyOnce.result.notExactlyOnce, 0, 'seeds')]
      : []),
    ...(b.replicas?.result
      ? [
          target('chaos run: problems (a step applied twice, lost, a promotion unfinished, audit broken)', b.replicas.result.chaos.problems.length, 0, ''),
          target('promote on A, approved on B → first step started, p50', b.replicas.result.handOver.postgres3.p50Ms, 100, 'ms'),
        ]
      : []),
  ];
  return rows;
}

export function renderMarkdown(results) {
  const b = results.benchmarks;
  const parts = [
    `# Lockstep benchmarks, ${results.startedAt}`,
    '',
    `Machine: ${results.machine.cpus} CPUs (${results.machine.cpuModel}), ${results.machine.memoryGB} GB, Node ${results.machine.node}. ` +
      `Medians of ${results.runs} runs${results.full ? ' (BENCH_FULL)' : ''}; total ${results.totalSeconds} s.`,
    '',
    '## Targets',
    '',
    table(['target', 'measured', 'goal', 'status'], targets(results)),
    '',
  ];
  if (b.dag?.result) {
    parts.push(
      '## 1. DAG overhead (layered DAG, width 20, concurrency 8)',
      '',
      table(
        [
          'steps',
          'work',
          'lower bound s',
          'lockstep s',
          'make -j8 s',
          'sequential s',
          'lockstep / make',
          'speed-up vs sequential',
          'overhead per step vs make, ms',
          'marginal ms per step, lockstep / make',
        ],
        b.dag.result.map((r) => [
          r.components,
          `\`${r.work}\``,
          r.lowerBoundS,
          r.lockstepS,
          r.makeS,
          r.sequentialS,
          `${r.vsMake}×`,
          `${r.speedupVsSequential}×`,
          r.overheadPerStepVsMakeMs,
          r.marginalMsPerStep === undefined ? '-' : `${r.marginalMsPerStep} / ${r.marginalMakeMsPerStep}`,
        ]),
      ),
      '',
    );
  }
  if (b.validatePlan?.result) {
    parts.push(
      '## 2. validate and plan at scale',
      '',
      table(
        [
          'components',
          'handoffs',
          'environments',
          'validate s',
          'validate MB',
          'plan s',
          'plan MB',
          'validate + plan s',
          'peak MB',
          'node -e 0 s (start-up)',
        ],
        b.validatePlan.result.map((r) => [
          r.components,
          r.handoffs ? `yes (plan ${r.planVsNoHandoffs}× without)` : 'no',
          r.environments,
          r.validateS,
          r.validateMb,
          r.planS,
          r.planMb,
          r.validatePlusPlanS,
          r.peakMb,
          r.nodeStartS,
        ]),
      ),
      '',
    );
  }
  if (b.throughput?.result) {
    const r = b.throughput.result;
    parts.push(
      '## 3. Engine throughput (in-process, 5 zero-work steps each)',
      '',
      table(
        [
          'promotions',
          'promotions/s',
          'first step p50 ms',
          'first step p99 ms',
          'promotion p50 ms',
          'promotion p99 ms',
        ],
        [[r.promotions, r.promotionsPerS, r.firstStepP50Ms, r.firstStepP99Ms, r.promotionP50Ms, r.promotionP99Ms]],
      ),
      '',
    );
  }
  if (b.audit?.result) {
    const a = b.audit.result;
    parts.push(
      '## 4. Audit log',
      '',
      `Append: ${a.append.durableCommitPerEntry.perS}/s with one durable commit per entry (${a.append.durableCommitPerEntry.msEach} ms each); ` +
        `${a.append.batchedCommits.perS}/s in commits of ${a.append.batchedCommits.batchSize}.`,
      '',
      table(
        ['entries', 'exported MB', 'audit verify s', 'sha256sum s', 'verify / sha256sum', 'entries/s'],
        a.verify.map((r) => [
          r.entries,
          r.exportedMB,
          r.verifyS,
          r.sha256sumS,
          `${r.vsSha256sum}×`,
          r.verifyEntriesPerS,
        ]),
      ),
      '',
    );
  }
  if (b.metrics?.result) {
    parts.push(
      '## DORA metrics over a long history',
      '',
      '`lockstep metrics --since 10000d -o json` over the whole history of one environment, against `lockstep status -o json` on the same state (start-up, config, store).',
      '',
      table(
        ['promotions', 'components', 'metrics s', 'status s', 'metrics / status'],
        b.metrics.result.map((r) => [r.promotions, r.components, r.metricsS, r.statusS, `${r.vsStatus}×`]),
      ),
      '',
    );
  }
  if (b.gitops?.result) {
    const g = b.gitops.result;
    parts.push(
      '## 5. GitOps tag bump on a big repository',
      '',
      `Repository: ${g.files} files, ${g.commits} commits.`,
      '',
      table(
        ['case', 'seconds'],
        [
          ['lockstep promote, warm clone cache', g.warmS],
          ['lockstep promote, cold clone cache', g.coldS],
          ['bare git, warm (fetch, sed, commit, push)', g.gitWarmS],
          ['bare git, cold (clone, sed, commit, push)', g.gitColdS],
          ['warm / bare git warm', `${g.warmVsGit}×`],
          ['cold / bare git cold', `${g.coldVsGit}×`],
        ],
      ),
      '',
    );
  }
  if (b.startup?.result) {
    const s = b.startup.result;
    parts.push(
      '## 6. CLI start-up (one-component project)',
      '',
      table(
        ['command', 'median s', 'peak MB', 'vs node -e 0'],
        [
          ['`node -e 0`', s.nodeS, s.nodeMb, '1×'],
          ['`lockstep --version`', s.versionS, s.versionMb, `${s.versionVsNode}×`],
          ['`lockstep validate`', s.validateS, s.validateMb, `${s.validateVsNode}×`],
        ],
      ),
      '',
      `Medians of ${s.samples} interleaved samples.`,
      '',
    );
  }
  if (b.exactlyOnce?.result) {
    const e = b.exactlyOnce.result;
    const counts = Object.entries(e.appliesPerComponent).map(([component, histogram]) => [
      component,
      Object.entries(histogram)
        .map(([applies, seeds]) => `${applies}× in ${seeds} seed${seeds === 1 ? '' : 's'}`)
        .join(', '),
    ]);
    parts.push(
      '## 7. Exactly once after SIGKILL (pass/fail, not a timing)',
      '',
      `${e.passed} of ${e.seeds} seeds passed (${e.kills} kills of lockstep's whole process group while eight commands ran, then resume). ` +
        'Every component must be applied exactly once and hand its outputs on.',
      '',
      table(['component', 'applies per seed'], counts),
      '',
      ...e.failed.map((f) => `- seed ${f.seed}: ${f.problems.join('; ')}`),
      '',
    );
  }
  if (b.server?.result) {
    const v = b.server.result;
    parts.push(
      '## 8. The team server (a `lockstep serve` process on loopback)',
      '',
      table(
        ['request', 'p50 ms', 'p99 ms', 'requests/s'],
        [
          ['`GET /healthz` (baseline: no token, no store)', v.healthz.p50Ms, v.healthz.p99Ms, v.healthz.perS],
          ['`GET /environments` (status, with a token)', v.status.p50Ms, v.status.p99Ms, v.status.perS],
        ],
      ),
      '',
      `${v.reads} requests each, by ${v.clients} concurrent clients; status p50 is ${v.statusVsHealthzP50}× healthz p50.`,
      '',
      `Promote → first step started, through the API (POST /promotions, 5 zero-work steps): p50 ${v.firstStepP50Ms} ms, ` +
        `p99 ${v.firstStepP99Ms} ms over ${v.promotions} promotions; in-process promote() in the same run: p50 ${v.inProcessFirstStepP50Ms} ms ` +
        `(${v.firstStepVsInProcess}×).`,
      '',
    );
  }
  if (b.replicas?.result) {
    const r = b.replicas.result;
    const t = r.throughput;
    const c = r.chaos;
    const h = r.handOver;
    const row = (name, x) => [name, x.promotions, x.seconds, x.promotionsPerS, x.stepsPerS, `${x.vsSqlite}×`];
    parts.push(
      '## 10. Server replicas on one PostgreSQL, and the chaos run',
      '',
      table(
        ['setup', 'promotions', 's', 'promotions/s', 'steps/s', 'vs SQLite, 1 server'],
        [row('SQLite, 1 server (baseline)', t.sqlite1), row('PostgreSQL, 1 replica', t.postgres1), row('PostgreSQL, 3 replicas', t.postgres3)],
      ),
      '',
      `The six-step DAG (net → db → api, worker → web → edge; commands that do nothing) over four environments, ${r.promotions} promotions per run, each requested through a random replica; ` +
        `the median run of ${t.sqlite1.runs.length}, interleaved (steps/s of each run: SQLite ${t.sqlite1.runs.join(', ')}; PostgreSQL 1 replica ${t.postgres1.runs.join(', ')}; 3 replicas ${t.postgres3.runs.join(', ')}).`,
      '',
      table(
        ['requested on A, approved on B → first step started', 'p50 ms', 'p99 ms', 'ran on'],
        [
          ['SQLite, 1 server (A = B, baseline)', h.sqlite1.p50Ms, h.sqlite1.p99Ms, `the server: ${h.sqlite1.ranOn.asked}`],
          ['PostgreSQL, 3 replicas (A ≠ B)', h.postgres3.p50Ms, h.postgres3.p99Ms, `B: ${h.postgres3.ranOn.approver}, A: ${h.postgres3.ranOn.asked}, other: ${h.postgres3.ranOn.other}`],
        ],
      ),
      '',
      `${h.postgres3.samples} samples each; PostgreSQL p50 is ${h.postgres3.vsSqlite}× the SQLite one.`,
      '',
      `Chaos run: ${c.promotions} promotions, ${c.succeeded} succeeded, ${c.waitingOnPerson.length} waiting on a person; ${c.stepsApplied} step applies ` +
        `(each exactly once: ${c.problems.length === 0 ? 'yes' : 'NO'}); ${c.kills} SIGKILLs (${c.killsOnWork} of a replica running promotions), ` +
        `${c.takeovers} promotions taken over, p50 ${c.takeoverP50Ms ?? '-'} ms, max ${c.takeoverMaxMs ?? '-'} ms after the kill; PostgreSQL restarted halfway ` +
        `(${c.postgresRestartSeconds ?? '-'} s; error answers: ${(c.errorAnswers ?? []).map((a) => a.status).join(', ') || 'none'}); audit verify ${c.auditOk ? 'intact' : 'BROKEN'} over ${c.auditEntries} entries; ${c.seconds} s.`,
      '',
      `Partition: a replica paused mid-step past its ${r.partition.leaseMs} ms lease was taken over after ${r.partition.takeoverMs} ms; ` +
        `its late commit ${r.partition.lateCommitRefused ? 'was refused' : 'was NOT refused'}; promotion ${r.partition.state}, every step applied once: ${r.partition.appliedOnce ? 'yes' : 'NO'}.`,
      '',
      ...c.problems.map((line) => `- chaos problem: ${line}`),
      '',
    );
  }
  if (b.ui?.result) {
    const v = b.ui.result;
    parts.push(
      '## 11. The web UI at scale (Debian\'s Chromium against `lockstep serve`)',
      '',
      table(
        ['what', 'ms (median)'],
        [
          [`board first render, ${v.environments} environments × ${v.componentsEach} components`, v.boardFirstRenderMs],
          ['board first render, 4 environments × 3 components (baseline)', v.smallBoardFirstRenderMs],
          [`\`GET /environments\` of the big board alone`, v.boardReadMs],
          ['of its first render: `GET /environments` in the browser', v.boardReadInBrowserMs ?? '-'],
          ['of its first render: from that answer to the cards painted', v.boardRenderAfterReadMs ?? '-'],
          ['update: `promotion.finished` → the card shows the new release', v.updateEventToShownMs],
          ['update: of which rendering, after the re-read arrived', v.updateRenderMs],
          [`promotion page of ${v.graphSteps} steps: every step drawn`, v.graphRenderMs ?? `not drawn (${v.graphNodesDrawn} graph nodes in the page)`],
          [`promotion page of ${v.graphSteps} steps: a step event → its node shows it`, v.graphStepEventToShownMs ?? '-'],
          ['of which rendering, after the re-read of the promotion arrived', v.graphStepRenderMs ?? '-'],
          [`elkjs layout of the same ${v.graphSteps}-step DAG, in Node`, v.elkLayoutMs],
        ],
      ),
      '',
      `The big board's first render is ${v.firstRenderVsSmall}× the small one's. Seeding it (one release promoted into every environment) took ${v.seedSeconds} s.`,
      '',
    );
  }
  for (const [name, entry] of Object.entries(b))
    if (entry.error) parts.push(`**${name} did not run:** ${entry.error}`, '');
  return parts.join('\n') + '\n';
}
