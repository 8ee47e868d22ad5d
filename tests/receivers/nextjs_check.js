// Checks a delivery the way the seed's "Next.js API Route Implementation"
// (seed/webhook-integration-guide.md, pages/api/webhooks/brainsait.ts) sees it,
// as a plain Node http server (no Next.js install).
//
// Next.js's API-route body parser hands the handler a parsed `req.body`, and
// the seed signs `JSON.stringify(req.body)`: the body parsed, then
// re-serialized. So this receiver
//   1. reads the raw body bytes,
//   2. JSON.parse()s them (as Next's parser does) and JSON.stringify()s them back,
//   3. runs the seed's verifySignature over that re-serialized string, exactly
//      as the seed does, and
//   4. also checks that the re-serialized string equals the raw body, byte
//      for byte (Herald promises compact JSON that survives the round trip).
// 200 only if both hold; 401 otherwise (405 for a non-POST, as in the seed).
//
// Env: BRAINSAIT_WEBHOOK_SECRET (the endpoint secret), PORT (0/unset = free port).
// Stdout: first line `LISTENING <port>`, then one line per request:
// `VERIFIED <event id>` or `REJECTED <reasons>`.
'use strict';

const http = require('http');
const crypto = require('crypto');

const WEBHOOK_SECRET = process.env.BRAINSAIT_WEBHOOK_SECRET;

// --- the seed's verifySignature, TypeScript annotations removed ---
function verifySignature(payload, signature) {
  const expectedSignature = crypto
    .createHmac('sha256', WEBHOOK_SECRET)
    .update(payload)
    .digest('hex');
  
  return crypto.timingSafeEqual(
    Buffer.from(signature, 'hex'),
    Buffer.from(expectedSignature, 'hex')
  );
}
// --- end of seed code ---

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function reply(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST') {
      console.log('REJECTED method-not-allowed');
      return reply(res, 405, { error: 'Method not allowed' });
    }
    const raw = Buffer.concat(chunks);

    let parsed;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      // Next.js itself would answer 400 "Invalid JSON" before the handler runs.
      console.log(`REJECTED invalid-json (${e.message})`);
      return reply(res, 401, { error: 'Invalid JSON' });
    }

    const signature = req.headers['x-brainsait-signature'];
    const payload = JSON.stringify(parsed);
    const reasons = [];

    const reserialized = Buffer.from(payload, 'utf8');
    if (!reserialized.equals(raw)) {
      const at = firstDifference(reserialized, raw);
      reasons.push(
        `not-round-trip at byte ${at}: raw ${JSON.stringify(raw.subarray(at, at + 24).toString('utf8'))}` +
          ` vs re-serialized ${JSON.stringify(reserialized.subarray(at, at + 24).toString('utf8'))}`
      );
    }

    let sigOk = false;
    try {
      sigOk = verifySignature(payload, signature);
      if (!sigOk) reasons.push('invalid-signature');
    } catch (e) {
      // In real Next.js this throw would be a 500; here it is a rejection.
      reasons.push(`signature-error (${e.message})`);
    }

    if (reasons.length === 0 && sigOk) {
      const id = parsed !== null && typeof parsed === 'object' ? parsed.id : undefined;
      console.log(`VERIFIED ${id}`);
      return reply(res, 200, { received: true });
    }
    console.log(`REJECTED ${reasons.join('; ')}`);
    return reply(res, 401, { error: 'Invalid signature' });
  });
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`LISTENING ${server.address().port}`);
});
