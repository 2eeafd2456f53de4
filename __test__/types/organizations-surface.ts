// The organization plugin's calls under --strict: permissions, invitations, the active organization.
import { createKavach, type Invitation, type Member, type Session } from 'kavachos';
import { organization } from 'kavachos/plugins';

export async function organizationSurface(headers: Headers): Promise<void> {
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    baseUrl: 'https://app.example.com',
    plugins: [
      organization({
        roles: { billing: ['billing:*'] },
        invitationExpiresIn: 3600,
        invitationUrl: '/join',
        sendInvitationEmail: async ({ email, url, organization, inviter, expiresAt }) => {
          const when: Date = expiresAt;
          console.log(email, url, organization?.name, inviter?.email, when.toISOString());
        },
      }),
    ],
  });
  const org = await kavach.organizations.create({ name: 'Acme', ownerId: 'u1' });
  const allowed = await kavach.organizations.hasPermission({ organizationId: org.data!.id, userId: 'u2', permission: ['billing:read'] });
  if (allowed.success) {
    const yes: boolean = allowed.data;
    console.log(yes);
  }
  const inv = await kavach.organizations.invite({ organizationId: org.data!.id, email: 'a@example.com', role: 'billing', inviterId: 'u1' });
  if (!inv.success) {
    const code: string = inv.error.code;
    console.log(code);
    return;
  }
  const invitation: Invitation = inv.data;
  const status: 'pending' | 'accepted' | 'declined' | 'canceled' | 'expired' = invitation.status;
  const expires: Date = invitation.expiresAt;
  const got = await kavach.organizations.getInvitation(invitation.id);
  const maybe: Invitation | null | undefined = got.data;
  const listed = await kavach.organizations.listInvitations({ organizationId: org.data!.id });
  const mine = await kavach.organizations.listUserInvitations({ email: 'a@example.com' });
  const member = await kavach.organizations.acceptInvitation({ invitationId: invitation.id, userId: 'u2' });
  const m: Member | undefined = member.data;
  await kavach.organizations.declineInvitation({ invitationId: invitation.id, userId: 'u2' });
  await kavach.organizations.cancelInvitation({ organizationId: org.data!.id, invitationId: invitation.id });
  await kavach.organizations.setActive({ headers, organizationId: org.data!.id });
  await kavach.organizations.setActive({ sessionId: 's', userId: 'u', organizationId: null });
  const session = await kavach.auth.getSession({ headers });
  const active: string | null | undefined = session.data?.session.activeOrganizationId;
  const s: Session | undefined = session.data?.session;
  console.log(status, expires, maybe, listed.data?.length, mine.data?.length, m, active, s);
}
