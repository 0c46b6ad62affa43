// A real OpenID provider (npm `oidc-provider`, pinned in tools/package.json) for the single
// sign-on tests: authorization code + PKCE (required), the development login form (any user
// name; its claims come from `accounts` below), on 127.0.0.1.
//
// Usage: node tests/oidc/provider.mjs PORT CLIENTS_JSON
//   CLIENTS_JSON: [{"client_id", "client_secret", "redirect_uris": [...]}, ...]
// Prints "ready" once it listens.
import Provider from '../../tools/node_modules/oidc-provider/lib/index.js';

const [port, clientsJson] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(clientsJson).map((client) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...client,
}));

// What the tests sign in as: the login form's user name picks the account; unknown names get
// an address at example.com and no groups.
const accounts = {
  alice: { email: 'alice@acme.example', email_verified: true, groups: ['platform'] },
  bob: { email: 'bob@acme.example', email_verified: true, groups: ['finops'] },
  mallory: { email: 'mallory@evil.example', email_verified: true, groups: [] },
};

const provider = new Provider(issuer, {
  clients,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  conformIdTokenClaims: false,
  async findAccount(ctx, id) {
    const known = accounts[id] ?? { email: `${id}@example.com`, email_verified: true, groups: [] };
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: id, ...known };
      },
    };
  },
});
// Plain http on loopback is what the tests use; the provider otherwise insists on https.
provider.proxy = true;

provider.listen(Number(port), '127.0.0.1', () => {
  console.log('ready');
});
