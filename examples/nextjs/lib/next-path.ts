// Where to go after signing in: only a path on this site. `?next=https://evil.example` or
// `?next=//evil.example` would otherwise turn the sign-in page into an open redirect.
export function nextPath(value: string | null, fallback = '/dashboard'): string {
  if (!value || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return fallback;
  return value;
}
