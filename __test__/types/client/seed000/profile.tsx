// Seed 000, "Hooks" AFTER, verbatim (Profile is not exported in the seed either).
// AFTER (KavachOS)
import { useUser, useSignOut } from '@kavachos/react';

function Profile() {
  const { user, isLoading } = useUser();
  const signOut = useSignOut();
  if (isLoading) return null;
  return (
    <div>
      <p>{user?.email}</p>
      <button type="button" onClick={() => signOut()}>Sign out</button>
    </div>
  );
}
