import Link from 'next/link';

export default function Home() {
  return (
    <main>
      <h1>kavachos + Next.js</h1>
      <ul>
        <li><Link href="/sign-up">Sign up</Link></li>
        <li><Link href="/sign-in">Sign in</Link></li>
        <li><Link href="/dashboard">Dashboard</Link> (signed-in users only)</li>
      </ul>
    </main>
  );
}
