// deviceAuthorization(): its options typed (durations, lengths, the two functions).
import { createKavach } from 'kavachos';
import { deviceAuthorization, type DeviceAuthorizationOptions } from 'kavachos/plugins';

export async function deviceAuthorizationSurface(): Promise<void> {
  const options: DeviceAuthorizationOptions = {
    expiresIn: '30m',
    interval: 5,
    userCodeLength: 8,
    deviceCodeLength: 40,
    verificationUri: '/device',
    validateClient: async (clientId) => clientId === 'tv-app',
    onDeviceAuthRequest: (clientId, scope) => { console.log(clientId, scope?.split(' ')); },
  };
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    plugins: [deviceAuthorization(options), deviceAuthorization()],
  });
  const id: 'device-authorization' = deviceAuthorization(options).id;
  console.log(kavach, id);
  // @ts-expect-error a duration needs a unit
  deviceAuthorization({ expiresIn: '30 minutes' });
  // @ts-expect-error validateClient answers a boolean
  deviceAuthorization({ validateClient: (clientId: string) => clientId });
}
