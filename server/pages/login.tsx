/** @jsxImportSource hono/jsx */
/** The token form: pages cannot send an Authorization header, so the token goes in a cookie. */
import { Layout } from './layout.tsx'

export const LoginPage = (props: { next: string; error?: string }) => (
  <Layout title="Sign in">
    <h1>Sign in</h1>
    <p class="lead">This server needs an API token (LAYERLEAK_API_TOKENS).</p>
    {props.error ? (
      <p class="error" role="alert">
        {props.error}
      </p>
    ) : null}
    <form class="scan" method="post" action="/login">
      <input type="hidden" name="next" value={props.next} />
      <label>
        Token
        <input class="reference" type="password" name="token" required autocomplete="current-password" />
      </label>
      <button type="submit">Sign in</button>
    </form>
  </Layout>
)
