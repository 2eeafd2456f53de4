// Every public call of @kavachos/client, with the types it resolves to (tsc --strict).
import { createKavachClient, type Agent, type AgentWithToken, type AuditEntry, type AuthorizeResult, type Invitation, type Member, type Organization, type Result, type SessionData, type SignInData, type SignUpData, type User, type Session, type Jwk } from '@kavachos/client';

declare function expectType<T>(value: T): void;

const client = createKavachClient({ baseUrl: 'http://localhost:3000', basePath: '/api/kavach', cookies: false, headers: async () => ({ cookie: 'a=b' }), token: () => null, fetch: globalThis.fetch, credentials: 'include' });
createKavachClient();
expectType<string>(client.baseUrl);

expectType<Result<SignUpData>>(await client.auth.signUp({ email: 'a@b.c', password: 'long enough', name: 'A' }));
const signedIn = await client.auth.signIn({ email: 'a@b.c', password: 'long enough' });
expectType<Result<SignInData>>(signedIn);
if (signedIn.success && !signedIn.data.twoFactorRequired) expectType<Date>(signedIn.data.session.expiresAt);
expectType<Result<void>>(await client.auth.signOut({ all: true }));
const session = await client.auth.getSession();
expectType<Result<SessionData | null>>(session);
if (session.success && session.data) expectType<Date>(session.data.user.createdAt);
if (!session.success) expectType<string>(session.error.code);
expectType<Result<void>>(await client.auth.forgotPassword({ email: 'a@b.c', redirectTo: '/reset' }));
expectType<Result<void>>(await client.auth.resetPassword({ token: 't', newPassword: 'long enough' }));
expectType<Result<void>>(await client.auth.changePassword({ currentPassword: 'x', newPassword: 'y', revokeOtherSessions: false }));
expectType<Result<void>>(await client.auth.sendVerificationEmail({ callbackURL: '/welcome' }));
expectType<Result<User>>(await client.auth.verifyEmail({ token: 't' }));

const created = await client.agents.create({ name: 'bot', type: 'autonomous', permissions: [{ resource: 'mcp:github:*', actions: ['read'], constraints: { maxCallsPerHour: 10 } }], expiresAt: new Date() });
expectType<Result<AgentWithToken>>(created);
expectType<Result<Agent[]>>(await client.agents.list({ status: 'active', type: 'service', limit: 10 }));
expectType<Result<Agent | null>>(await client.agents.get('id'));
expectType<Result<Agent>>(await client.agents.update('id', { name: 'x', expiresAt: null }));
expectType<Result<void>>(await client.agents.revoke('id'));
expectType<Result<AgentWithToken>>(await client.agents.rotate('id'));
expectType<Result<AuthorizeResult>>(await client.authorize('id', { action: 'read', resource: 'r', arguments: { a: 1 }, ip: '1.2.3.4' }));
expectType<Result<AuthorizeResult>>(await client.authorizeByToken('kv_x', { action: 'read', resource: 'r' }));
expectType<Result<AuditEntry[]>>(await client.audit.query({ agentId: 'id', since: new Date(), actions: ['read'], result: 'denied' }));
expectType<Result<string>>(await client.audit.export({ format: 'csv' }));

expectType<Result<Organization>>(await client.organizations.create({ name: 'Acme', slug: 'acme' }));
expectType<Result<Organization[]>>(await client.organizations.list());
expectType<Result<Organization | null>>(await client.organizations.get('o'));
expectType<Result<Organization>>(await client.organizations.update('o', { name: 'B' }));
expectType<Result<void>>(await client.organizations.delete('o'));
expectType<Result<Member[]>>(await client.organizations.members.list({ organizationId: 'o' }));
expectType<Result<Member>>(await client.organizations.members.add({ organizationId: 'o', userId: 'u', role: 'member' }));
expectType<Result<Member>>(await client.organizations.members.updateRole({ organizationId: 'o', userId: 'u', role: 'admin' }));
expectType<Result<Member>>(await client.organizations.members.remove({ organizationId: 'o', userId: 'u' }));
expectType<Result<Member>>(await client.organizations.addMember({ organizationId: 'o', userId: 'u', role: 'member' }));
expectType<Result<Invitation[]>>(await client.organizations.invitations.list({ organizationId: 'o' }));
expectType<Result<Invitation>>(await client.organizations.invitations.create({ organizationId: 'o', email: 'a@b.c', role: 'member' }));
expectType<Result<void>>(await client.organizations.invitations.cancel({ organizationId: 'o', invitationId: 'i' }));
expectType<Result<Invitation[]>>(await client.organizations.invitations.listMine());
expectType<Result<Member>>(await client.organizations.invitations.accept('i'));
expectType<Result<Invitation>>(await client.organizations.invitations.decline('i'));
const one = await client.organizations.invitations.get('i');
if (one.success && one.data) expectType<string>(one.data.invitation.email);
expectType<Result<{ allowed: boolean }>>(await client.organizations.hasPermission({ organizationId: 'o', permission: ['project:create', 'project:delete'] }));
expectType<Result<{ session: Session }>>(await client.organizations.setActive('o'));
expectType<Result<{ session: Session }>>(await client.organizations.setActive(null));
expectType<Result<{ allowed: boolean }>>(await client.organizations.hasPermission({ organizationId: 'o', permission: 'project:create' }));

expectType<Result<{ users: User[]; total: number }>>(await client.admin.listUsers({ search: 'a', limit: 10, offset: 0 }));
expectType<Result<User | null>>(await client.admin.getUser('u'));
expectType<Result<void>>(await client.admin.removeUser('u'));
expectType<Result<User>>(await client.admin.banUser('u', { reason: 'spam', expiresAt: new Date() }));
expectType<Result<User>>(await client.admin.unbanUser('u'));
expectType<Result<User>>(await client.admin.setRole('u', 'admin'));
expectType<Result<SessionData>>(await client.admin.impersonateUser('u'));
expectType<Result<SessionData>>(await client.admin.stopImpersonating());

expectType<Result<{ enabled: boolean }>>(await client.twoFactor.status());
expectType<Result<{ totpURI: string; secret: string; backupCodes: string[] }>>(await client.twoFactor.enable({ password: 'p' }));
expectType<Result<{ enabled: true }>>(await client.twoFactor.activate({ code: '123456' }));
expectType<Result<{ enabled: false }>>(await client.twoFactor.disable({ password: 'p' }));
expectType<Result<{ backupCodes: string[] }>>(await client.twoFactor.generateBackupCodes({ password: 'p' }));
expectType<Result<SessionData>>(await client.twoFactor.verify({ code: '123456', trustDevice: true }));
expectType<Result<SessionData>>(await client.twoFactor.verify({ backupCode: 'abcd-efgh' }));

expectType<Result<{ token: string }>>(await client.jwt.getToken());
expectType<Result<{ keys: Jwk[] }>>(await client.jwt.getJwks());

const stop: () => void = client.onSessionChange((change) => {
  if (change) expectType<User>(change.user);
});
stop();
expectType<Result<Agent[]>>(await client.request<Agent[]>('GET', '/agents'));

// @ts-expect-error the owner is the signed-in user; a type is required
await client.agents.create({ name: 'bot', permissions: [] });
// @ts-expect-error the audit filter has no userId over HTTP (always the signed-in user)
await client.audit.query({ userId: 'u' });
