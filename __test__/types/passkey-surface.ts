// passkey(): its options typed.
import { createKavach } from 'kavachos';
import { passkey, type PasskeyOptions } from 'kavachos/plugins';

export async function passkeySurface(): Promise<void> {
  const o: PasskeyOptions = { rpID: 'example.com', rpName: 'Example', origin: ['https://app.example.com'] };
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    plugins: [passkey(o), passkey(), passkey({ origin: 'https://example.com' })],
  });
  await kavach.close();
}
