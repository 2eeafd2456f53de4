// lib/passkeys.ts: whether this deployment offers passkeys. WebAuthn names the relying party by the
// site's domain (an IP address cannot be one), so passkeys are on unless AUTH_BASE_URL is an IP
// origin (http://127.0.0.1:3000 has none; http://localhost:3000 and https://example.com do).
// PASSKEYS=off turns them off anyway.
type Env = Record<string, string | undefined>;

export function passkeysOn(env: Env = process.env): boolean {
  if (env.PASSKEYS === 'off') return false;
  const base = env.AUTH_BASE_URL;
  if (!base) return true; // the relying party is then each request's origin
  let host: string;
  try {
    host = new URL(base).hostname;
  } catch {
    return false;
  }
  return !/^\d{1,3}(\.\d{1,3}){3}$/.test(host) && !host.startsWith('[');
}
