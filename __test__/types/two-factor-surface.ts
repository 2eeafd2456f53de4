// twoFactor(): every new call typed, and auth.signIn's two answers narrowed.
import { createKavach, type SignInData, type TwoFactorEnrollment, type TwoFactorSignedIn, type Result } from 'kavachos';
import { twoFactor, type TwoFactorOptions } from 'kavachos/plugins';

export async function twoFactorSurface(): Promise<void> {
  const options: TwoFactorOptions = { issuer: 'Acme', trustDeviceDays: 0, backupCodeCount: 8 };
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    emailAndPassword: { enabled: true },
    plugins: [twoFactor(), twoFactor(options)],
  });
  const userId = 'u';
  const enrolled: Result<TwoFactorEnrollment> = await kavach.twoFactor.enable({ userId, password: 'pw' });
  if (enrolled.success) {
    const uri: string = enrolled.data.totpURI;
    const secret: string = enrolled.data.secret;
    const codes: string[] = enrolled.data.backupCodes;
    console.log(uri, secret, codes);
  } else {
    const code: string = enrolled.error.code;
    console.log(code);
  }
  const on = await kavach.twoFactor.activate({ userId, code: '123456' });
  const yes: true | undefined = on.data?.enabled;
  const status = await kavach.twoFactor.status(userId);
  const enabled: boolean = status.data!.enabled;
  const fresh = await kavach.twoFactor.generateBackupCodes({ userId, password: 'pw' });
  const list: string[] = fresh.data!.backupCodes;

  const signed: Result<SignInData> = await kavach.auth.signIn({ email: 'a@b.c', password: 'pw' }, { trustedDeviceToken: 'device' });
  if (signed.success) {
    if (signed.data.twoFactorRequired) {
      const token: string = signed.data.twoFactorToken;
      const done: Result<TwoFactorSignedIn> = await kavach.twoFactor.verify({ twoFactorToken: token, code: '123456' });
      const viaBackup = await kavach.twoFactor.verify({ twoFactorToken: token, backupCode: 'ABCDE-FGHJK', trustDevice: true });
      const device: string | undefined = viaBackup.data?.trustedDeviceToken;
      if (done.success) console.log(done.data.user.email, done.data.session.expiresAt.getTime(), done.data.token, device);
    } else {
      const email: string = signed.data.user.email;
      const sessionToken: string = signed.data.token;
      console.log(email, sessionToken);
    }
  }
  // @ts-expect-error: a code or a backup code, not both
  await kavach.twoFactor.verify({ twoFactorToken: 't', code: '1', backupCode: '2' });
  // @ts-expect-error: the token is required
  await kavach.twoFactor.verify({ code: '123456' });
  const off = await kavach.twoFactor.disable({ userId, password: 'pw' });
  const no: false | undefined = off.data?.enabled;
  console.log(yes, enabled, list, no);
  await kavach.close();
}
