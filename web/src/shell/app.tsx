import { useEffect, useRef, useState } from 'react';
import { ApiError, api, storedToken } from '../api/client.js';
import { AuditPage } from '../pages/audit/audit-page.js';
import { BoardPage } from '../pages/board/board-page.js';
import { MetricsPage } from '../pages/metrics/metrics-page.js';
import { PromotionPage } from '../pages/promotion/promotion-page.js';
import { ReleasePage } from '../pages/release/release-page.js';
import { Link, navigate, paths, useRoute, type Route } from './router.js';
import { SessionContext, useSignedIn, type SignedIn } from './session-context.js';
import { SignInPage } from './sign-in-page.js';

type Auth = { state: 'checking' } | { state: 'signed-out'; problem?: string } | { state: 'signed-in'; value: SignedIn };

/** The page shell: sign-in first, then a header (project, pages, who is signed in) and the routed page. */
export function App() {
  const route = useRoute();
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let cancelled = false;
    void (async () => {
      try {
        const session = await api.session();
        const whoami = await api.whoami();
        if (!cancelled) setAuth({ state: 'signed-in', value: { session, whoami } });
      } catch (e) {
        if (cancelled) return;
        if (e instanceof ApiError && e.status === 401) {
          const hadToken = storedToken.get() !== undefined;
          storedToken.clear();
          setAuth({
            state: 'signed-out',
            ...(hadToken ? { problem: 'The stored API token is no longer accepted.' } : {}),
          });
        } else setAuth({ state: 'signed-out', problem: `The server cannot be reached: ${String(e)}` });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [generation]);

  useEffect(() => {
    document.title = `${titleOf(route)} · Lockstep`;
  }, [route]);
  useFocusOnNewPage();

  if (auth.state === 'checking') return <p className="loading">Loading…</p>;
  if (auth.state === 'signed-out')
    return (
      <SignInPage
        onSignedIn={() => setGeneration((g) => g + 1)}
        {...(auth.problem === undefined ? {} : { problem: auth.problem })}
      />
    );

  const signOut = async (): Promise<void> => {
    if (storedToken.get() !== undefined) storedToken.clear();
    else await api.signOut().catch(() => undefined);
    api.csrf = undefined;
    setAuth({ state: 'signed-out' });
  };
  const project = 'project' in route ? route.project : undefined;
  return (
    <SessionContext.Provider value={auth.value}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top-bar">
        <Link to="/" className="brand">
          Lockstep
        </Link>
        {project !== undefined && (
          <nav aria-label="Project">
            <span className="project-name">{project}</span>
            <Link to={paths.board(project)} aria-current={route.page === 'board' ? 'page' : undefined}>
              Pipeline
            </Link>
            <Link to={paths.audit(project)} aria-current={route.page === 'audit' ? 'page' : undefined}>
              Audit
            </Link>
            <Link to={paths.metrics(project)} aria-current={route.page === 'metrics' ? 'page' : undefined}>
              Metrics
            </Link>
          </nav>
        )}
        <div className="who">
          <span>
            Signed in as <strong>{auth.value.session.name}</strong>
          </span>
          <button type="button" className="button button-quiet" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </SessionContext.Provider>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'home':
      return <Home />;
    case 'board':
      return <BoardPage project={route.project} />;
    case 'promotion':
      return <PromotionPage project={route.project} id={route.promotion} />;
    case 'audit':
      return <AuditPage project={route.project} {...(route.promotion === undefined ? {} : { promotion: route.promotion })} />;
    case 'release':
      return <ReleasePage project={route.project} id={route.release} />;
    case 'metrics':
      return <MetricsPage project={route.project} since={route.since ?? '30d'} />;
    case 'not-found':
      return (
        <section>
          <h1>Nothing here</h1>
          <p>
            No page at <span className="mono">{route.path}</span>. <Link to="/">Go to your projects</Link>.
          </p>
        </section>
      );
  }
}

/** The projects the signed-in identity may see; one project opens at once. */
function Home() {
  const { whoami } = useSignedIn();
  const projects = whoami.projects;
  useEffect(() => {
    const only = projects.length === 1 ? projects[0] : undefined;
    if (only !== undefined) navigate(paths.board(only.project), { replace: true });
  }, [projects]);
  return (
    <section>
      <h1>Projects</h1>
      {projects.length === 0 ? (
        <p>
          You hold no role in any project served here. Ask an admin to add you to <code>access:</code> in the project’s
          lockstep.yaml.
        </p>
      ) : (
        <ul className="plain-list">
          {projects.map((p) => (
            <li key={p.project}>
              <Link to={paths.board(p.project)}>{p.project}</Link>{' '}
              <span className="muted">({p.roles.join(', ') || 'no role'})</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/**
 * After navigating to another page (not a change of its query, such as a filter), focus moves to the
 * main region, so keyboard and screen reader users start at the new page, not where the link was.
 */
function useFocusOnNewPage(): void {
  const pathname = location.pathname;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById('main')?.focus();
  }, [pathname]);
}

function titleOf(route: Route): string {
  switch (route.page) {
    case 'home':
      return 'Projects';
    case 'board':
      return `${route.project} pipeline`;
    case 'promotion':
      return `Promotion ${route.promotion.slice(0, 12)}`;
    case 'audit':
      return `${route.project} audit`;
    case 'release':
      return `Release ${route.release.slice(0, 12)}`;
    case 'metrics':
      return `${route.project} metrics`;
    case 'not-found':
      return 'Not found';
  }
}
