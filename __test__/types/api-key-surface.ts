// apiKey(): the plugin's options, its alias, and kavach.apiKeys.* typed.
import { createKavach, type ApiKey, type ApiKeyVerifyResult, type Result } from 'kavachos';
import { apiKey, apiKeys, type ApiKeyOptions, type KavachPlugin } from 'kavachos/plugins';

export async function apiKeySurface(): Promise<void> {
  const options: ApiKeyOptions = {
    apiKeyHeaders: ['x-api-key', 'x-other'],
    defaultPrefix: 'ak_',
    enableMetadata: true,
    enableSessionForAPIKeys: true,
    keyExpiration: { defaultExpiresIn: '30d', minExpiresIn: 1, maxExpiresIn: 90 },
    rateLimit: { enabled: true, timeWindow: 60_000, maxRequests: 100 },
    permissions: { defaultPermissions: { files: ['read'] } },
  };
  const same: KavachPlugin<'api-key', ApiKeyOptions> = apiKeys(options);
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    plugins: [apiKey(options)],
  });
  const created = await kavach.apiKeys.create({ userId: 'u', name: 'ci', expiresIn: 86400, remaining: 10, refillAmount: 10, refillInterval: 86_400_000, permissions: { files: ['read'] } });
  if (created.success) {
    const key: string = created.data.key;
    const start: string | null = created.data.start;
    const expires: Date | null = created.data.expiresAt;
    console.log(key, start, expires);
  } else {
    const code: string = created.error.code;
    console.log(code);
  }
  const verified: Result<ApiKeyVerifyResult> = await kavach.apiKeys.verify({ key: 'k', permissions: { files: ['read'] } });
  if (verified.success) {
    const v = verified.data;
    if (v.valid) {
      const k: ApiKey = v.key;
      console.log(k.remaining, k.rateLimitMax);
    } else {
      console.log(v.error.code, v.error.details?.tryAgainIn);
    }
  }
  const one: Result<ApiKey> = await kavach.apiKeys.get({ keyId: 'id' });
  const list: Result<ApiKey[]> = await kavach.apiKeys.list({ userId: 'u' });
  const updated = await kavach.apiKeys.update({ keyId: 'id', enabled: false, expiresIn: null });
  const gone: Result<{ success: true }> = await kavach.apiKeys.delete({ keyId: 'id' });
  const s = await kavach.auth.getSession({ headers: { 'x-api-key': 'k' } });
  console.log(same, one, list, updated.data?.enabled, gone, s.data?.user.id);
}
