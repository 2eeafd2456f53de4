// Seed 004, "For React, swap the hook import" AFTER, verbatim; `children` comes from the app (declared below).
// AFTER (KavachOS React hooks)
import { useSession } from '@kavachos/react';

// Wrap your app:
import { KavachProvider } from '@kavachos/react';

<KavachProvider basePath="/api/kavach">
  {children}
</KavachProvider>

declare const children: React.ReactNode;
