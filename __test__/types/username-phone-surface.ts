// username() and phoneNumber(): the factories' options typed as better-auth's, their ids literal.
import { createKavach, type User } from 'kavachos';
import { username, phoneNumber, type UsernameOptions, type PhoneNumberOptions, type KavachPlugin } from 'kavachos/plugins';

export async function usernamePhoneSurface(): Promise<void> {
  const u: UsernameOptions = {
    minUsernameLength: 4,
    maxUsernameLength: 24,
    usernameValidator: async (name: string) => !name.includes('admin'),
    displayUsernameValidator: (display: string) => display.length < 40,
  };
  const p: PhoneNumberOptions = {
    sendOTP: async ({ phoneNumber, code }: { phoneNumber: string; code: string }) => {
      console.log(phoneNumber.length, code.length);
    },
    otpLength: 8,
    expiresIn: 600,
    allowedAttempts: 5,
    signUpOnVerification: {
      getTempEmail: (n: string) => `${n}@phone.example.com`,
      getTempName: async (n: string) => n,
    },
    requireVerification: true,
    phoneNumberValidator: async (n: string) => n.startsWith('+'),
  };
  const a: KavachPlugin<'username', UsernameOptions> = username();
  const b: KavachPlugin<'username', UsernameOptions> = username(u);
  const c: KavachPlugin<'phone-number', PhoneNumberOptions> = phoneNumber(p);
  const d = phoneNumber({ sendOTP: () => undefined });
  const id: 'phone-number' = d.id;
  await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    emailAndPassword: { enabled: true },
    plugins: [a, b, c, d],
  });
  console.log(id);

  const fields = (user: User): [string | undefined, string | undefined, string | undefined, boolean | undefined] => [
    user.username,
    user.displayUsername,
    user.phoneNumber,
    user.phoneNumberVerified,
  ];
  console.log(fields);

  // @ts-expect-error sendOTP is required, as in better-auth
  phoneNumber({ otpLength: 6 });
  // @ts-expect-error signUpOnVerification needs getTempEmail
  phoneNumber({ sendOTP: () => undefined, signUpOnVerification: { getTempName: (n: string) => n } });
  // @ts-expect-error usernameValidator answers a boolean
  username({ usernameValidator: (name: string) => name });
  // @ts-expect-error lengths are numbers
  username({ minUsernameLength: '3' });
}
