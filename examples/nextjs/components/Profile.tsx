'use client';
import { useRouter } from 'next/navigation';
import { useUser, useSignOut } from '@kavachos/react';

// Seed 000's Profile; after signing out it leaves the protected page.
export function Profile() {
  const router = useRouter();
  const { user, isLoading } = useUser();
  const signOut = useSignOut();
  if (isLoading) return null;
  return (
    <div>
      <p id="profile-email">{user?.email}</p>
      <button
        type="button"
        onClick={async () => {
          await signOut();
          router.push('/sign-in');
        }}
      >
        Sign out
      </button>
    </div>
  );
}
