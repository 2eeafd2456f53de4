'use strict'
// @kavachos/express: middleware to mount with app.use('/api/kavach', kavachExpress(kavach)).
// Works with and without express.json() in front of it.

const { Readable } = require('node:stream')
const { resolver, toHeaders } = require('./resolve.js')

const MAX_BODY = 1024 * 1024

function readStream(req, max) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    req.on('data', (c) => {
      size += c.length
      if (size > max) {
        req.removeAllListeners('data')
        req.resume()
        resolve(null)
      } else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks, size)))
    req.on('error', reject)
  })
}

function sendError(res, status, code, message) {
  res.status(status).setHeader('content-type', 'application/json; charset=utf-8')
  res.end(JSON.stringify({ error: { code, message } }))
}

/**
 * Returns the middleware pair to mount: `app.use('/api/kavach', kavachExpress(kavach))` (Express takes
 * arrays wherever it takes middleware). The second member answers, in the API's own format, the errors
 * of a body parser that runs in front of the mount (`express.json()`), which Express hands only to
 * error-handling middleware.
 */
function kavachExpress(source, options = {}) {
  const getKavach = resolver(source)
  const max = options.maxBodySize ?? MAX_BODY
  function kavachParserErrors(err, _req, res, next) {
    if (err && err.type === 'entity.parse.failed') return sendError(res, 400, 'INVALID_JSON', 'the body is not valid JSON')
    if (err && err.type === 'entity.too.large') return sendError(res, 413, 'PAYLOAD_TOO_LARGE', 'the request body is too large')
    return next(err)
  }
  return [kavachMiddleware, kavachParserErrors]

  async function kavachMiddleware(req, res, next) {
    try {
      const kavach = await getKavach()
      const method = req.method.toUpperCase()
      let body
      if (method !== 'GET' && method !== 'HEAD') {
        if (req.body !== undefined && (req.readableEnded || req.complete)) {
          // A body parser ran first: what it parsed is all that is left of the bytes.
          body = Buffer.isBuffer(req.body) ? req.body : typeof req.body === 'string' ? Buffer.from(req.body) : Buffer.from(JSON.stringify(req.body))
        } else {
          body = await readStream(req, max)
        }
        if (body === null) return sendError(res, 413, 'PAYLOAD_TOO_LARGE', 'the request body is too large')
      }
      const url = `${req.protocol}://${req.get('host')}${req.originalUrl}`
      const request = new Request(url, { method, headers: toHeaders(req.headers) })
      const response = await kavach.handler(request, {
        path: req.path || '/',
        clientIp: req.socket ? req.socket.remoteAddress : undefined,
        body,
      })
      res.status(response.status)
      for (const [k, v] of response.headers) {
        if (k === 'set-cookie') continue
        res.setHeader(k, v)
      }
      const cookies = response.headers.getSetCookie()
      if (cookies.length) res.setHeader('set-cookie', cookies)
      // A download (GET /audit/export) streams: it may be far larger than memory should hold.
      if (response.body && (response.headers.get('content-disposition') || '').startsWith('attachment')) {
        Readable.fromWeb(response.body).on('error', next).pipe(res)
        return
      }
      res.end(Buffer.from(await response.arrayBuffer()))
    } catch (e) {
      next(e)
    }
  }
}

module.exports = { kavachExpress }
