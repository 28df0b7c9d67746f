// The dashboard's shell: sign-in, the navigation, and the view the address's #fragment names.
import { useEffect, useState } from 'preact/hooks';
import { currentSession, setCsrf, signOut, type Session } from './api.js';
import { useLiveServers } from './live.js';
import { SignIn } from './views/sign-in.js';
import { Overview } from './views/overview.js';
import { Instances, InstanceDetail } from './views/instances.js';
import { Images } from './views/images.js';
import { Keypairs } from './views/keypairs.js';
import { SecurityGroups } from './views/security-groups.js';
import { FloatingIps } from './views/floating-ips.js';
import { Volumes } from './views/volumes.js';
import { Networks } from './views/networks.js';
import { AdminHosts, AdminServices, AdminProjects, AdminInstances } from './views/admin.js';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/overview');
  useEffect(() => {
    const onChange = () => setHash(location.hash || '#/overview');
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return hash;
}

const PROJECT_LINKS: [string, string][] = [
  ['#/overview', 'Overview'],
  ['#/instances', 'Instances'],
  ['#/images', 'Images'],
  ['#/keypairs', 'Key pairs'],
  ['#/security-groups', 'Security groups'],
  ['#/floating-ips', 'Floating IPs'],
  ['#/volumes', 'Volumes'],
  ['#/networks', 'Networks'],
];
const ADMIN_LINKS: [string, string][] = [
  ['#/admin/hosts', 'Hosts'],
  ['#/admin/services', 'Services'],
  ['#/admin/projects', 'Projects and users'],
  ['#/admin/instances', 'All instances'],
];

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  useEffect(() => {
    void currentSession().then((s) => {
      if (s) setCsrf(s.csrf);
      setSession(s ?? null);
    });
  }, []);
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) {
    return (
      <SignIn
        onSignedIn={(s) => {
          setCsrf(s.csrf);
          setSession(s);
        }}
      />
    );
  }
  return <SignedIn session={session} onSignedOut={() => setSession(null)} />;
}

function SignedIn({ session, onSignedOut }: { session: Session; onSignedOut: () => void }) {
  const hash = useHash();
  const servers = useLiveServers(onSignedOut);
  const [menuOpen, setMenuOpen] = useState(false);
  const [route, arg] = hash.startsWith('#/instances/')
    ? ['#/instances/', decodeURIComponent(hash.slice('#/instances/'.length))]
    : [hash, ''];
  let view;
  switch (route) {
    case '#/instances':
      view = <Instances servers={servers} />;
      break;
    case '#/instances/':
      view = <InstanceDetail id={arg} servers={servers} />;
      break;
    case '#/images':
      view = <Images session={session} />;
      break;
    case '#/keypairs':
      view = <Keypairs />;
      break;
    case '#/security-groups':
      view = <SecurityGroups />;
      break;
    case '#/floating-ips':
      view = <FloatingIps servers={servers} />;
      break;
    case '#/volumes':
      view = <Volumes servers={servers} />;
      break;
    case '#/networks':
      view = <Networks />;
      break;
    case '#/admin/hosts':
      view = session.admin ? <AdminHosts /> : <Forbidden />;
      break;
    case '#/admin/services':
      view = session.admin ? <AdminServices /> : <Forbidden />;
      break;
    case '#/admin/projects':
      view = session.admin ? <AdminProjects /> : <Forbidden />;
      break;
    case '#/admin/instances':
      view = session.admin ? <AdminInstances /> : <Forbidden />;
      break;
    default:
      view = <Overview servers={servers} />;
  }
  const link = ([href, label]: [string, string]) => (
    <li key={href}>
      <a
        href={href}
        aria-current={
          hash === href || (href !== '#/overview' && hash.startsWith(`${href}/`))
            ? 'page'
            : undefined
        }
        onClick={() => setMenuOpen(false)}
      >
        {label}
      </a>
    </li>
  );
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Stratus</span>
        <button
          class="menu-toggle"
          type="button"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <span class="who">
          <span data-testid="who">
            {session.user.name} in {session.project.name}
            {session.admin ? ' (admin)' : ''}
          </span>
          <button
            type="button"
            onClick={() => {
              void signOut().then(onSignedOut);
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <nav id="nav" class={menuOpen ? 'open' : ''} aria-label="Main">
        <h2>Project</h2>
        <ul>{PROJECT_LINKS.map(link)}</ul>
        {session.admin && (
          <>
            <h2>Admin</h2>
            <ul>{ADMIN_LINKS.map(link)}</ul>
          </>
        )}
      </nav>
      <main id="main" tabIndex={-1}>
        {view}
      </main>
    </div>
  );
}

function Forbidden() {
  return <p role="alert">This view is for administrators.</p>;
}
