// dynalite in memory, plus the one call it lacks that the local stack makes at startup.
//
// dynalite 4.0.0 answers UpdateTimeToLive with UnknownOperationException, and the local stack
// enables TTL on the table it creates. TTL deletion is not what the benchmark measures (moto does
// not expire items either), so that call is acknowledged here, in the same process: every other
// request goes straight to dynalite's own handler, with no extra hop.
// Usage: node server.js <port>   (listens on 127.0.0.1 only)
'use strict'
const dynalite = require('dynalite')

const port = Number(process.argv[2] || 0)
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
const [handle] = server.listeners('request')
server.removeAllListeners('request')
server.on('request', (req, res) => {
  const target = req.headers['x-amz-target'] || ''
  if (target.endsWith('.UpdateTimeToLive')) {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      const spec = (JSON.parse(body || '{}').TimeToLiveSpecification) || {}
      const answer = JSON.stringify({ TimeToLiveSpecification: spec })
      res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': 'bench' })
      res.end(answer)
    })
    return
  }
  handle(req, res)
})
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n')
})
process.stdin.on('end', () => process.exit(0)) // the parent went away: so do we
process.stdin.resume()
