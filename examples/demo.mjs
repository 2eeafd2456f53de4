// kavachos in one minute, on the embedded SQLite default: an agent, its token, decisions, audit.
//   npm install && npm run build && npm run demo
import { createKavach } from 'kavachos'

const kavach = await createKavach({
  database: { provider: 'sqlite', url: process.env.DATABASE_URL ?? 'kavach-demo.db' },
  secret: process.env.KAVACHOS_SECRET ?? 'demo-secret-change-me-demo-secret-change-me',
})

const agent = await kavach.agent.create({
  ownerId: 'user_123', // any stable id from your own auth
  name: 'github-helper',
  type: 'autonomous',
  permissions: [
    { resource: 'mcp:github:*', actions: ['read'] },
    { resource: 'mcp:github:issues', actions: ['write'], constraints: { maxCallsPerHour: 2 } },
  ],
})
console.log(`created agent ${agent.id}; its token (shown once): ${agent.tokenPrefix}…`)

const ask = async (label, token, action, resource) => {
  const d = await kavach.authorizeByToken(token, { action, resource })
  console.log(`${label.padEnd(34)} ${d.allowed ? 'ALLOWED' : `DENIED  ${d.code}`}  audit ${d.auditId ?? '-'}`)
}
await ask('read mcp:github:repos', agent.token, 'read', 'mcp:github:repos')
await ask('delete mcp:github:repos', agent.token, 'delete', 'mcp:github:repos')
for (let i = 1; i <= 3; i++) await ask(`write mcp:github:issues (#${i}, 2/h)`, agent.token, 'write', 'mcp:github:issues')

const rotated = await kavach.agent.rotate(agent.id)
await ask('old token after rotate', agent.token, 'read', 'mcp:github:repos')
await ask('new token after rotate', rotated.token, 'read', 'mcp:github:repos')
await kavach.agent.revoke(agent.id)
await ask('new token after revoke', rotated.token, 'read', 'mcp:github:repos')

const rows = await kavach.audit.query({ agentId: agent.id })
console.log(`\n${rows.length} audited decisions for this agent; as CSV:\n`)
console.log(await kavach.audit.export({ format: 'csv', agentId: agent.id }))
await kavach.close()
