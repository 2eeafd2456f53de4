// @kavachos/client's device calls (deviceAuthorization(), RFC 8628), with the types they resolve to.
import { createKavachClient, type DeviceCodeResponse, type DeviceResult, type DeviceTokenResponse, type Result } from '@kavachos/client';

declare function expectType<T>(value: T): void;

const client = createKavachClient({ baseUrl: 'http://localhost:3000' });
const codes = await client.device.code({ client_id: 'tv-app', scope: 'openid profile' });
expectType<DeviceResult<DeviceCodeResponse>>(codes);
if (codes.success) {
  expectType<string>(codes.data.user_code);
  expectType<number>(codes.data.interval);
  const token = await client.device.token({ device_code: codes.data.device_code, client_id: 'tv-app' });
  expectType<DeviceResult<DeviceTokenResponse>>(token);
  if (token.success) expectType<'Bearer'>(token.data.token_type);
  else if (token.error.error === 'slow_down') expectType<string>(token.error.code);
}
const look = await client.device({ query: { user_code: 'WDJB-MJHT' } });
if (look.success) expectType<'pending' | 'approved' | 'denied'>(look.data.status);
expectType<Result<{ success: boolean }>>(await client.device.approve({ userCode: 'WDJB-MJHT' }));
expectType<Result<{ success: boolean }>>(await client.device.deny({ userCode: 'WDJB-MJHT' }));
// @ts-expect-error approve takes better-auth's camelCase userCode
await client.device.approve({ user_code: 'WDJB-MJHT' });
