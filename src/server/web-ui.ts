import type { OpenAPIHono } from '@hono/zod-openapi';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerEnv } from './server-env.js';

/**
 * Where `npm run build` puts the web UI (web/ built by Vite): dist/web, beside dist/server (tsc's
 * output) and dist/bundle (the CLI bundle), so `../web` from either is the same folder.
 */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../web/', import.meta.url));
}

/**
 * The policy of every page of the UI: only what the server itself serves runs or loads (no inline
 * script, no CDN, no external font), the API is same-origin, and no other site may frame it. Styles
 * set from script (React's `style` prop, the graph's node positions) go through the CSSOM, which
 * style-src does not restrict; inline `<style>` and `style=""` in markup stay refused.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Paths that belong to the server, never to the UI: a miss there is the API's JSON 404. */
const SERVER_PREFIXES = ['/api/', '/auth/'];
const SERVER_PATHS = new Set(['/api', '/auth', '/healthz', '/readyz', '/metrics']);

/**
 * Serves the web UI at `/`: files of `root` as they are (Vite's hashed assets cached for good,
 * index.html never), and index.html for any other path without a file extension, so that the UI's
 * own routes (`/projects/shop/promotions/9c1e2f3`) load it on a reload or a shared link. The API,
 * the sign-in routes, health and metrics keep their paths. Without a built UI, `/` says how to build
 * it (a checkout where `npm run build` has not run).
 */
export function webUiRoutes(app: OpenAPIHono<ServerEnv>, root: string = defaultWebRoot()): void {
  const base = resolve(root);
  app.on(['GET', 'HEAD'], '*', async (c, next) => {
    const path = c.req.path;
    if (SERVER_PATHS.has(path) || SERVER_PREFIXES.some((p) => path.startsWith(p))) return next();
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return next();
    }
    const file = resolve(base, `.${decoded}`);
    // Never outside the UI's folder (`/../../etc/passwd` resolves above it).
    if (file !== base && !file.startsWith(base + sep)) return next();
    const extension = extname(decoded);
    const found = extension !== '' && (await isFile(file));
    if (extension !== '' && !found) return next();
    const target = found ? file : join(base, 'index.html');
    const body = await readFile(target).catch(() => undefined);
    if (body === undefined)
      return c.text('The web UI is not built: run `npm run build` (it builds web/ into dist/web).', 404, UI_HEADERS);
    const hashed = found && decoded.startsWith('/assets/');
    const headers = {
      ...UI_HEADERS,
      'Content-Type': CONTENT_TYPES[extname(target)] ?? 'application/octet-stream',
      'Cache-Control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    return c.req.method === 'HEAD' ? c.body(null, 200, headers) : c.body(new Uint8Array(body), 200, headers);
  });
}

const UI_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
