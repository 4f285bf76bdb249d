// node oidc-provider, the reference bench/run.py compares this project with (--reference).
//
// The same shape as the IdP under test: WORKERS processes (node:cluster) on one port, state shared
// through Redis, client_credentials access tokens as ES256 JWTs for an API (resource indicators),
// opaque tokens when no resource is named (those are the ones introspection can look up), the
// discovery document and the JWKS. Keys and client secrets come from the parent (bench/reference.py).
import cluster from 'node:cluster';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';

import Redis from 'ioredis';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const workers = Number(process.env.WORKERS || 2);

if (cluster.isPrimary) {
  const jwk = (type, options) => generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  const keys = [
    { ...jwk('ec', { namedCurve: 'P-256' }), kid: 'es256', alg: 'ES256', use: 'sig' },
    { ...jwk('rsa', { modulusLength: 2048 }), kid: 'rs256', alg: 'RS256', use: 'sig' },
  ];
  for (let i = 0; i < workers; i += 1) cluster.fork({ REFERENCE_KEYS: JSON.stringify(keys) });
  // Stopping the primary (by its PID) stops the workers it started.
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  start(JSON.parse(process.env.REFERENCE_KEYS));
}

function redisAdapter(redis, prefix) {
  // The example adapter from oidc-provider's repository, reduced to what these endpoints use.
  return class RedisAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${prefix}${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      await redis.set(this.key(id), JSON.stringify(payload), 'EX', expiresIn);
    }

    async find(id) {
      const data = await redis.get(this.key(id));
      return data ? JSON.parse(data) : undefined;
    }

    async consume(id) {
      const data = await this.find(id);
      if (data) await this.upsert(id, { ...data, consumed: Math.floor(Date.now() / 1000) }, 60);
    }

    async destroy(id) {
      await redis.del(this.key(id));
    }

    async findByUid() {
      return undefined;
    }

    async findByUserCode() {
      return undefined;
    }

    async revokeByGrantId() {}
  };
}

function start(keys) {
  const redis = new Redis(process.env.REDIS_URL);
  const api = 'https://api.bench.invalid';
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    adapter: redisAdapter(redis, process.env.REDIS_PREFIX || 'reference:'),
    jwks: { keys },
    clients: [
      {
        client_id: process.env.M2M_CLIENT_ID,
        client_secret: process.env.M2M_CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'api',
      },
      {
        client_id: process.env.RS_CLIENT_ID,
        client_secret: process.env.RS_CLIENT_SECRET,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    scopes: ['api'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api',
          audience: api,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  createPrivateKey({ key: keys[0], format: 'jwk' }); // fail early on a bad key rather than at the first token
  provider.listen(port, '127.0.0.1');
}
