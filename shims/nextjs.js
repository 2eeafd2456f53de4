'use strict'
// @kavachos/nextjs: route handlers for app/api/.../[...kavach]/route.ts.

const { resolver } = require('./resolve.js')

/**
 * @param {import('../index').Kavach | Promise<import('../index').Kavach> | (() => import('../index').Kavach | Promise<import('../index').Kavach>)} source
 * @param {{ basePath?: string, trustForwardedFor?: boolean }} [options]
 */
function kavachNextjs(source, options = {}) {
  const getKavach = resolver(source)
  async function handle(request, context) {
    const kavach = await getKavach()
    // The catch-all segments are the route inside the mount, whatever the folder is called.
    const params = context && context.params ? await context.params : undefined
    const segments = params ? Object.values(params).find(Array.isArray) : undefined
    // Next has no socket to read: the platform's proxy header is the client address.
    let clientIp
    if (options.trustForwardedFor !== false) {
      const xff = request.headers.get('x-forwarded-for')
      // The last entry is the one the platform's proxy wrote; earlier ones are the client's to choose.
      const last = xff ? xff.split(',').map((v) => v.trim()).filter(Boolean).pop() : undefined
      clientIp = last || request.headers.get('x-real-ip') || undefined
    }
    if (segments) return kavach.handler(request, { path: '/' + segments.join('/'), clientIp })
    return kavach.handler(request, { mount: options.basePath, clientIp })
  }
  return { GET: handle, POST: handle, PUT: handle, PATCH: handle, DELETE: handle, OPTIONS: handle, HEAD: handle }
}

module.exports = { kavachNextjs }
