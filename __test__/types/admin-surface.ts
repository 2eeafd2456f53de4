// The admin plugin's calls (issue 5): options, every kavach.admin.* call and its Result, the new
// User and Session fields.
import { createKavach, type Result, type Session, type User } from 'kavachos';
import { admin, type AdminOptions } from 'kavachos/plugins';

export async function adminSurface(): Promise<void> {
  const options: AdminOptions = { adminUserIds: ['u_root'], impersonationTtl: 600, defaultRole: 'user' };
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    emailAndPassword: { enabled: true },
    plugins: [admin(options), admin()],
  });
  const page = await kavach.admin.listUsers({ search: 'ada', limit: 20, offset: 0 });
  if (page.success) {
    const users: User[] = page.data.users;
    const total: number = page.data.total;
    const first = users[0];
    if (first) {
      const role: string = first.role;
      const banned: boolean = first.banned;
      const reason: string | null = first.banReason;
      const until: Date | null = first.banExpires;
      console.log(total, role, banned, reason, until?.toISOString());
    }
  } else {
    const code: string = page.error.code;
    console.log(code);
  }
  await kavach.admin.listUsers();
  const one: Result<User | null> = await kavach.admin.getUser('u1');
  if (one.success && one.data) console.log(one.data.email);
  const banned: Result<void> = await kavach.admin.banUser({ userId: 'u1', reason: 'spam', expiresAt: new Date(Date.now() + 3_600_000) });
  await kavach.admin.banUser({ userId: 'u1' });
  await kavach.admin.banUser({ userId: 'u1', expiresAt: '2030-01-01T00:00:00Z' });
  await kavach.admin.banUser({ userId: 'u1', expiresAt: null });
  const unbanned: Result<void> = await kavach.admin.unbanUser('u1');
  const role: Result<void> = await kavach.admin.setRole({ userId: 'u1', role: 'admin' });
  const removed: Result<void> = await kavach.admin.removeUser('u1');
  const imp = await kavach.admin.impersonate({ adminId: 'u_root', userId: 'u2' });
  if (imp.success) {
    const session: Session = imp.data.session;
    const by: string | null = session.impersonatedBy;
    const expires: Date = session.expiresAt;
    const token: string = imp.data.token;
    const user: User = imp.data.user;
    const stopped: Result<void> = await kavach.admin.stopImpersonating(token);
    console.log(by, expires.getTime(), user.id, stopped.success);
  }
  const s = await kavach.auth.getSession({ headers: new Headers() });
  if (s.success && s.data) {
    const by: string | null = s.data.session.impersonatedBy;
    console.log(by);
  }
  console.log(banned.success, unbanned.success, role.success, removed.success);
  await kavach.close();
}
