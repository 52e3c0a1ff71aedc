// A real OpenID provider (panva/oidc-provider, OpenID Certified) on loopback, for end-to-end sign-in tests only.
//
// One static confidential client (Streamlit's st.login via Authlib) and a few accounts whose ID tokens carry the
// claims a council's Microsoft Entra ID would send: email, name, roles (app roles) and teams
// (values as mapped in access_policies/claims.yml).
// The built-in development login form accepts any password: never expose this outside a test.
//
// Environment: OIDC_PORT (default 9400), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI,
// OIDC_ID_TOKEN_TTL (seconds, default 3600). Prints "oidc-provider listening on <issuer>" when ready.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 9400);
const issuer = `http://127.0.0.1:${port}`;

// Accounts by login name. `roles` and `teams` are what the dashboard maps to principals via access_policies.
const ACCOUNTS = {
  sam: { email: 'sam.manager@council.example', name: 'Sam Manager', roles: ['CSC.ServiceManager'], teams: [] },
  tara: { email: 'tara.team@council.example', name: 'Tara Teamlead', roles: ['CSC.TeamManager'],
          teams: ['CSC.Team.T01'] },
  ian: { email: 'ian.gov@council.example', name: 'Ian Governance', roles: ['CSC.IGOfficer'], teams: [] },
  bea: { email: 'bea.analyst@council.example', name: 'Bea Analyst', roles: ['CSC.BIAnalyst'], teams: [] },
  nora: { email: 'nora.none@council.example', name: 'Nora Norole', roles: [], teams: [] },
};

const redirectUri = process.env.OIDC_REDIRECT_URI || 'http://localhost:8501/oauth2callback';

const configuration = {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID || 'csc-dashboard-test',
    client_secret: process.env.OIDC_CLIENT_SECRET || 'test-secret-not-for-production',
    redirect_uris: [redirectUri],
    // Streamlit's st.logout sends its redirect_uri as the post-logout redirect
    post_logout_redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // Put the requested claims in the ID token itself: Streamlit only reads the ID token (never userinfo).
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    roles: ['roles', 'teams'],
  },
  scopes: ['openid', 'email', 'profile', 'roles'],
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: true, name: account.name,
                 roles: account.roles, teams: account.teams };
      },
    };
  },
  // Loaded every time: no persistent grants, so every sign-in shows the login form.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId,
                                                accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile roles');
    await grant.save();
    return grant;
  },
  ttl: {
    IdToken: Number(process.env.OIDC_ID_TOKEN_TTL || 3600),
    AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600,
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['e2e-only-cookie-key'] },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('authorization.error', (ctx, err) => console.error('authorization.error', err.message, err.error_description || ''));
provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description || ''));
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
