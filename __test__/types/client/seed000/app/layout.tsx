// Seed 000, "AFTER: app/layout.tsx (KavachOS)", verbatim.
// AFTER: app/layout.tsx (KavachOS)
import { KavachProvider } from '@kavachos/react';

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <KavachProvider basePath="/api/auth">
      <html lang="en">
        <body>{children}</body>
      </html>
    </KavachProvider>
  );
}
