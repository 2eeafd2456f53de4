import { KavachProvider } from '@kavachos/react';

export const metadata = { title: 'kavachos + Next.js' };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <KavachProvider basePath="/api/auth">
      <html lang="en">
        <body>{children}</body>
      </html>
    </KavachProvider>
  );
}
