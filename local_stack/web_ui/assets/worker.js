// The local stack's service worker for a Lex Web UI it serves.
//
// The Web UI's AWS SDK calls real AWS hosts (cognito-identity.{region}.amazonaws.com,
// runtime-v2-lex.{region}.amazonaws.com) and cannot be pointed elsewhere by its config.
// This worker answers those requests from the stack that served the page: it sends each
// one, method, headers and body unchanged, to /.aws/{host}{path} on its own origin. The
// page's Content-Security-Policy allows the AWS hosts, so the page may make the calls;
// the worker's own fetches are same-origin. WebSockets never pass through a worker: the
// socket goes from the page to the stack's gateway as the release opens it.
//
// Pages of the stack's origin are fetched through here too (marked so the stack knows),
// so that a page opened without this worker gets the start page that installs it.

const FORWARD_PREFIX = "/.aws/";

function isAwsHost(hostname) {
  return (
    hostname.endsWith(".amazonaws.com") ||
    hostname.endsWith(".amazonaws.com.cn") ||
    hostname.endsWith(".amazoncognito.com")
  );
}

async function forward(request, url) {
  const init = {
    method: request.method,
    headers: request.headers,
    credentials: "omit",
    cache: "no-store",
    redirect: "manual",
  };
  if (request.method !== "GET" && request.method !== "HEAD") {
    init.body = await request.arrayBuffer();
  }
  return fetch(`${FORWARD_PREFIX}${url.host}${url.pathname}${url.search}`, init);
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin === self.location.origin) {
    if (event.request.mode === "navigate") {
      event.respondWith(
        fetch(url.href, {
          headers: { "X-Lexstream-Worker": "1" },
          credentials: "same-origin",
          redirect: "manual",
        }),
      );
    }
    return;
  }
  if (isAwsHost(url.hostname)) {
    event.respondWith(forward(event.request, url));
  }
});
