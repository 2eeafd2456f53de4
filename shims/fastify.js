'use strict'
// @kavachos/fastify: a plugin to register with app.register(kavachFastify(kavach), { prefix: '/api/kavach' }).

const { Readable } = require('node:stream')
const { resolver, toHeaders } = require('./resolve.js')

const MAX_BODY = 1024 * 1024
const TOO_LARGE = { error: { code: 'PAYLOAD_TOO_LARGE', message: 'the request body is too large' } }

function kavachFastify(source, options = {}) {
  const getKavach = resolver(source)
  const max = options.maxBodySize ?? MAX_BODY
  async function kavachPlugin(fastify) {
    // Inside this plugin only: keep every body as raw bytes, the core parses it.
    fastify.removeAllContentTypeParsers()
    fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: max }, (_req, body, done) => done(null, body))
    fastify.setErrorHandler((err, _req, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send(TOO_LARGE)
      reply.send(err)
    })
    async function handle(request, reply) {
      const kavach = await getKavach()
      const path = '/' + (request.params['*'] || '')
      const url = `${request.protocol}://${request.headers.host}${request.url}`
      const response = await kavach.handler(new Request(url, { method: request.method, headers: toHeaders(request.headers) }), {
        path,
        clientIp: request.ip,
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
      })
      reply.code(response.status)
      for (const [k, v] of response.headers) if (k !== 'set-cookie') reply.header(k, v)
      const cookies = response.headers.getSetCookie()
      if (cookies.length) reply.header('set-cookie', cookies)
      // A download (GET /audit/export) streams: it may be far larger than memory should hold.
      if (response.body && (response.headers.get('content-disposition') || '').startsWith('attachment')) {
        return reply.send(Readable.fromWeb(response.body))
      }
      return reply.send(Buffer.from(await response.arrayBuffer()))
    }
    fastify.all('/', handle)
    fastify.all('/*', handle)
  }
  return kavachPlugin
}

module.exports = { kavachFastify }
