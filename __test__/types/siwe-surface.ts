// siwe(): its options typed (domain required; getNonce, verifyMessage and ensLookup optional), and the
// client's siwe.nonce() / siwe.verify() answers.
import { createKavach } from 'kavachos';
import { siwe, type SiweOptions, type SIWEVerifyMessageArgs } from 'kavachos/plugins';
import { createKavachClient } from '../../npm/client/index.js';

export async function siweSurface(): Promise<void> {
  const opts: SiweOptions = {
    domain: 'example.com',
    emailDomainName: 'wallets.example.com',
    anonymous: false,
    getNonce: async ({ walletAddress, chainId }) => `n${walletAddress.slice(2, 10)}${chainId}`,
    verifyMessage: async (args: SIWEVerifyMessageArgs) => args.address.length === 42 && args.chainId > 0,
    ensLookup: async ({ walletAddress }) => ({ name: walletAddress, avatar: '' }),
  };
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    plugins: [siwe(opts), siwe({ domain: 'localhost:3000' })],
  });
  const id: 'siwe' = siwe(opts).id;
  console.log(kavach, id);
  // @ts-expect-error domain is required
  siwe({ anonymous: true });

  const client = createKavachClient({ baseUrl: 'http://localhost:3000' });
  const n = await client.siwe.nonce({ walletAddress: '0x0000000000000000000000000000000000000000', chainId: 1 });
  if (n.success) {
    const nonce: string = n.data.nonce;
    const v = await client.siwe.verify({ message: nonce, signature: '0x', email: 'a@example.com' });
    if (v.success) {
      const who: string = v.data.user.walletAddress;
      const chain: number = v.data.user.chainId;
      console.log(who, chain, v.data.token);
    }
  }
  // @ts-expect-error walletAddress is required
  await client.siwe.nonce({ chainId: 1 });
}
