//! The HTML of `GET /login`: one password field. The page posts `{"password":…}` to
//! `/login`; on success the browser holds the HttpOnly cookie and the page goes on to `?next=`
//! when that is a path on this origin, else to `/`. A refusal is shown as the server said it.

/// The login page for `node` (node names are `[a-z0-9-.]+`, so they need no escaping).
pub fn render(node: &str) -> String {
    PAGE.replace("{node}", node)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in to {node}</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f4f5f7; display: grid; place-items: center; min-height: 100vh; margin: 0; }
  form { background: #fff; padding: 2rem 2.5rem; border-radius: 8px; box-shadow: 0 2px 12px rgba(0,0,0,.08); min-width: 18rem; }
  h1 { font-size: 1.2rem; margin: 0 0 1.2rem; }
  label { display: block; font-size: .9rem; margin-bottom: .4rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; margin-bottom: 1rem; }
  button { width: 100%; padding: .6rem; font-size: 1rem; background: #2f5bd3; color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
  #error { color: #b00020; min-height: 1.2em; font-size: .9rem; margin: .8rem 0 0; }
</style>
</head>
<body>
<form id="login" method="post" action="/login">
  <h1>Log in to <span id="node">{node}</span></h1>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" autofocus required>
  <button id="submit" type="submit">Log in</button>
  <p id="error" role="alert"></p>
</form>
<script>
  // Only a path on this origin: "/x" but never "//host" or "/\host".
  function nextPath() {
    const next = new URLSearchParams(location.search).get('next');
    if (next && next.startsWith('/') && !next.startsWith('//') && !next.includes('\\')) return next;
    return '/';
  }
  document.getElementById('login').addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = document.getElementById('error');
    error.textContent = '';
    try {
      const response = await fetch('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password: document.getElementById('password').value }),
        credentials: 'same-origin',
      });
      if (response.ok) {
        location.assign(nextPath());
        return;
      }
      const body = await response.json().catch(() => ({}));
      error.textContent = body.error || ('login failed (' + response.status + ')');
    } catch (e) {
      error.textContent = 'the node cannot be reached: ' + e;
    }
  });
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_names_the_node_and_posts_to_login() {
        let page = super::render("local.os");
        assert!(page.contains("Log in to local.os"));
        assert!(page.contains("fetch('/login'"));
        assert!(!page.contains("{node}"));
    }
}
