import { NextRequest, NextResponse } from 'next/server';
import { getKavach } from '@/lib/kavach';

const PROTECTED = [/^\/dashboard/, /^\/api\/private/];

export async function middleware(req: NextRequest) {
  const needsAuth = PROTECTED.some((r) => r.test(req.nextUrl.pathname));
  if (!needsAuth) return NextResponse.next();

  const kavach = await getKavach();
  const session = await kavach.auth.getSession({ request: req });

  if (!session.success || !session.data) {
    const signInUrl = new URL('/sign-in', req.url);
    signInUrl.searchParams.set('next', req.nextUrl.pathname);
    return NextResponse.redirect(signInUrl);
  }

  return NextResponse.next();
}

export const config = {
  matcher: ['/dashboard/:path*', '/api/private/:path*'],
};
