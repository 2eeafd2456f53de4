// magicLink() and emailOTP(): their options typed, sendMagicLink/sendVerificationOTP required.
import { createKavach } from 'kavachos';
import { magicLink, emailOTP, type MagicLinkOptions, type EmailOTPOptions, type MagicLinkMessage, type EmailOTPType } from 'kavachos/plugins';

export async function magicLinkSurface(): Promise<void> {
  const sent: MagicLinkMessage[] = [];
  const ml: MagicLinkOptions = { sendMagicLink: async (m) => { sent.push(m); }, expiresIn: '10m', disableSignUp: false };
  const otp: EmailOTPOptions = {
    sendVerificationOTP: ({ email, otp, type }) => { const t: EmailOTPType = type; console.log(email, otp, t); },
    otpLength: 8,
    expiresIn: 300,
    allowedAttempts: 5,
    disableSignUp: true,
  };
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    emailAndPassword: { enabled: true },
    plugins: [magicLink(ml), emailOTP(otp), magicLink({ sendMagicLink: (m) => console.log(m.url, m.token, m.email) })],
  });
  const id: 'magic-link' = magicLink(ml).id;
  const id2: 'email-otp' = emailOTP(otp).id;
  console.log(kavach, id, id2);
  // @ts-expect-error sendMagicLink is required
  magicLink({ expiresIn: 60 });
  // @ts-expect-error sendVerificationOTP is required
  emailOTP({ otpLength: 6 });
  // @ts-expect-error a duration needs a unit
  magicLink({ sendMagicLink: () => {}, expiresIn: '5 minutes' });
  // @ts-expect-error only the three types
  const bad: EmailOTPType = 'change-email';
  console.log(bad);
}
