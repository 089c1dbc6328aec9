/**
 * The API's types, taken from the server's own zod schemas (src/server/schemas.ts and the routes'):
 * what the server validates and documents in /api/v1/openapi.json is what the UI reads. Type-only
 * imports: nothing of the server reaches the bundle.
 */
import type { z } from 'zod';
import type * as S from '../../../src/server/schemas.js';
import type { AuthConfig as AuthConfigSchema, SessionView } from '../../../src/server/routes/auth.js';
import type { Dora } from '../../../src/server/routes/dora.js';

export type Release = z.infer<typeof S.Release>;
export type Promotion = z.infer<typeof S.Promotion>;
export type Step = z.infer<typeof S.Step>;
export type Plan = z.infer<typeof S.Plan>;
export type EnvironmentStatus = z.infer<typeof S.Environment>;
export type LogLine = z.infer<typeof S.LogLine>;
export type AuditVerification = z.infer<typeof S.AuditVerification>;
export type WhoAmI = z.infer<typeof S.WhoAmI>;
export type ErrorBody = z.infer<typeof S.ErrorBody>;
export type ApproveBody = z.input<typeof S.ApproveBody>;
export type RejectBody = z.input<typeof S.RejectBody>;
export type RejectReleaseBody = z.input<typeof S.RejectReleaseBody>;
export type CreatePromotionBody = z.input<typeof S.CreatePromotionBody>;
export type Decisions = z.infer<typeof S.Decisions>;
export type ResumeBody = z.input<typeof S.ResumeBody>;
export type CancelBody = z.input<typeof S.CancelBody>;
export type RollbackBody = z.input<typeof S.RollbackBody>;
export type DriftBody = z.input<typeof S.DriftBody>;
export type AuthConfig = z.infer<typeof AuthConfigSchema>;
export type Session = z.infer<typeof SessionView>;

export type PlannedStep = Plan['steps'][number];
export type PlannedGate = Plan['gates'][number];
export type PendingPromotion = EnvironmentStatus['pending'][number];
export type Role = WhoAmI['projects'][number]['roles'][number];

/** An `event: audit` of the event stream: an audit entry as stored (redacted before it was written). */
export type { AuditEntry } from '../../../src/core/audit.js';

export type DriftReport = z.infer<typeof S.Drift>;
export type DriftState = EnvironmentStatus['drift'][number];
export type DoraMetrics = z.infer<typeof Dora>;
