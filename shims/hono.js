'use strict'
// @kavachos/hono: a Hono app to mount with app.route('/api/kavach', kavachHono(kavach)).

const { resolver } = require('./resolve.js')

function kavachHono(source) {
  const { Hono } = require('hono')
  const getKavach = resolver(source)
  const app = new Hono()
  app.all('*', async (c) => {
    const kavach = await getKavach()
    // routePath is the registered pattern with the mount prefix, e.g. '/api/kavach/*'.
    const mount = c.req.routePath.replace(/\/?\*$/, '')
    const path = c.req.path.slice(mount.length) || '/'
    const incoming = c.env && c.env.incoming
    const clientIp = incoming && incoming.socket ? incoming.socket.remoteAddress : undefined
    return kavach.handler(c.req.raw, { path, clientIp })
  })
  return app
}

module.exports = { kavachHono, createHonoAdapter: kavachHono }
