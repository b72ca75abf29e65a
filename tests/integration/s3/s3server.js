// SPDX-License-Identifier: BSD-2-Clause
// s3server.js: the S3-compatible server of edgecap's bucket tests. s3rver (from npm, installed
// into the build tree by tests/integration/s3/setup.sh) stores the objects; in front of it this
// script checks every request's AWS Signature Version 4 itself (s3rver does not) and logs it,
// one JSON line a request, so that a test can see what was signed and sent.
//
//   node s3server.js --port N|0 --dir DIR --log FILE --ready FILE --key ID --secret SECRET
//                    --bucket NAME [--bucket NAME...] [--fail-put-status CODE]
//
// A request whose signature does not verify gets 403 SignatureDoesNotMatch, as S3 answers.
// --fail-put-status answers every PUT with that status and S3's error code for it (an S3-style
// XML error: 403 AccessDenied, 404 NoSuchBucket, 503 SlowDown, any other InternalError), to
// test the uploader's retries and its final failure.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const args = { bucket: [] };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  const v = process.argv[i + 1];
  if (k === 'bucket') args.bucket.push(v);
  else args[k] = v;
}
for (const k of ['port', 'dir', 'log', 'ready', 'key', 'secret']) {
  if (args[k] === undefined) {
    console.error(`s3server.js: --${k} is required`);
    process.exit(2);
  }
}
const S3rver = require(process.env.S3RVER_MODULE || 's3rver');
// --fail-put-status's error, as S3 words it for that status.
const FAIL_ERRORS = {
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchBucket', 'The specified bucket does not exist'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  503: ['SlowDown', 'Please reduce your request rate.'],
};

const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
const sha256hex = (data) => crypto.createHash('sha256').update(data).digest('hex');
// RFC 3986 encoding, as SigV4 wants it.
const enc = (s) =>
  encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );

// The signature check: null when it verifies, else why not.
function checkSigV4(req) {
  const auth = req.headers['authorization'] || '';
  const m = auth.match(
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/,
  );
  if (!m) return 'no AWS4-HMAC-SHA256 Authorization header';
  const [, keyId, date, region, service, signed, sig] = m;
  if (keyId !== args.key) return 'unknown access key ' + keyId;
  const amzDate = req.headers['x-amz-date'] || '';
  if (!amzDate.startsWith(date)) return 'x-amz-date does not match the credential scope date';
  const payload = req.headers['x-amz-content-sha256'];
  if (!payload) return 'no x-amz-content-sha256';
  const names = signed.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date') ||
      !names.includes('x-amz-content-sha256'))
    return 'host, x-amz-date and x-amz-content-sha256 must be signed';
  const u = new URL(req.url, 'http://x');
  const query = [...u.searchParams.entries()]
    .map(([k, v]) => [enc(k), enc(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonPath = u.pathname.split('/').map((p) => enc(decodeURIComponent(p))).join('/');
  const headers = names
    .map((n) => `${n}:${String(req.headers[n] || '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const creq = [req.method, canonPath, query, headers, signed, payload].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(creq)].join('\n');
  let k = hmac('AWS4' + args.secret, date);
  k = hmac(k, region);
  k = hmac(k, service);
  k = hmac(k, 'aws4_request');
  const want = hmac(k, sts).toString('hex');
  return want === sig ? null : 'signature mismatch';
}

const server = new S3rver({
  port: Number(args.port),
  address: '127.0.0.1',
  directory: args.dir,
  silent: true,
  configureBuckets: args.bucket.map((name) => ({ name })),
  // This script checks signatures; s3rver only knows its own default key.
  allowMismatchedSignatures: true,
});
const logFd = fs.openSync(args.log, 'a');

server.middleware.unshift(async (ctx, next) => {
  const req = ctx.req;
  const entry = {
    method: req.method,
    url: req.url,
    authorization: req.headers['authorization'] || null,
    x_amz_date: req.headers['x-amz-date'] || null,
    x_amz_content_sha256: req.headers['x-amz-content-sha256'] || null,
    sig_error: checkSigV4(req),
  };
  const reply = (status, code, message) => {
    ctx.status = status;
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
      `<Message>${message}</Message></Error>`;
  };
  try {
    if (entry.sig_error) {
      reply(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match ' +
        'the signature you provided (' + entry.sig_error + ')');
    } else if (args['fail-put-status'] && req.method === 'PUT') {
      const st = Number(args['fail-put-status']);
      reply(st, ...(FAIL_ERRORS[st] || FAIL_ERRORS[500]));
    } else {
      // s3rver checks the key against its own accounts: show it its default one.
      req.headers['authorization'] = req.headers['authorization'].replace(
        'Credential=' + args.key + '/',
        'Credential=S3RVER/',
      );
      await next();
    }
  } finally {
    entry.status = ctx.status;
    fs.writeSync(logFd, JSON.stringify(entry) + '\n');
  }
});

// The ready file holds the port (--port 0: one the kernel picked), written once serving.
server.run().then((addr) => {
  fs.writeFileSync(args.ready + '.tmp', String(addr.port));
  fs.renameSync(args.ready + '.tmp', args.ready);
}, (e) => {
  console.error('s3server.js: ' + e.message);
  process.exit(1);
});
