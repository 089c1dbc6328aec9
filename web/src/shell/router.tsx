import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

/**
 * The UI's routes, matched on the path (the server answers index.html for each, so a reload or a
 * shared link works). History API only: no router package for five routes.
 */
export type Route =
  | { page: 'home' }
  | { page: 'board'; project: string }
  | { page: 'promotion'; project: string; promotion: string }
  | { page: 'audit'; project: string; promotion?: string }
  | { page: 'release'; project: string; release: string }
  | { page: 'metrics'; project: string; since?: string }
  | { page: 'not-found'; path: string };

export function parseRoute(path: string, search: string): Route {
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  if (parts.length === 0) return { page: 'home' };
  if (parts[0] === 'projects' && parts[1] !== undefined) {
    const project = parts[1];
    if (parts.length === 2) return { page: 'board', project };
    if (parts[2] === 'promotions' && parts[3] !== undefined && parts.length === 4)
      return { page: 'promotion', project, promotion: parts[3] };
    if (parts[2] === 'releases' && parts[3] !== undefined && parts.length === 4) return { page: 'release', project, release: parts[3] };
    if (parts[2] === 'metrics' && parts.length === 3) {
      const since = new URLSearchParams(search).get('since') ?? undefined;
      return { page: 'metrics', project, ...(since === undefined ? {} : { since }) };
    }
    if (parts[2] === 'audit' && parts.length === 3) {
      const promotion = new URLSearchParams(search).get('promotion') ?? undefined;
      return { page: 'audit', project, ...(promotion === undefined ? {} : { promotion }) };
    }
  }
  return { page: 'not-found', path };
}

export const paths = {
  board: (project: string) => `/projects/${encodeURIComponent(project)}`,
  promotion: (project: string, id: string) => `/projects/${encodeURIComponent(project)}/promotions/${encodeURIComponent(id)}`,
  release: (project: string, id: string) => `/projects/${encodeURIComponent(project)}/releases/${encodeURIComponent(id)}`,
  metrics: (project: string, since?: string) =>
    `/projects/${encodeURIComponent(project)}/metrics${since === undefined ? '' : `?since=${encodeURIComponent(since)}`}`,
  audit: (project: string, promotion?: string) =>
    `/projects/${encodeURIComponent(project)}/audit${promotion === undefined ? '' : `?promotion=${encodeURIComponent(promotion)}`}`,
};

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  listeners.forEach((l) => l());
  window.scrollTo(0, 0);
}

export function useRoute(): Route {
  const read = (): Route => parseRoute(location.pathname, location.search);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = (): void => setRoute(read());
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return route;
}

/** A link that navigates within the UI (a real `<a href>`: opens in a new tab, works with the keyboard). */
export function Link({ to, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>): void => {
    rest.onClick?.(event);
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey
    )
      return;
    event.preventDefault();
    navigate(to);
  };
  return <a {...rest} href={to} onClick={onClick} />;
}
