// Served in place of a Web UI page that was opened without the stack's service worker:
// install the worker, then load the same URL again, now through it.
(async () => {
  const status = document.getElementById("status");
  const attemptKey = "lexstream-worker-attempt";
  if (!("serviceWorker" in navigator)) {
    status.textContent =
      "This browser has no service workers here, so the Lex Web UI cannot reach the " +
      "local stack. Open the URL the stack printed (http://127.0.0.1:PORT/...).";
    return;
  }
  if (sessionStorage.getItem(attemptKey) === location.href && navigator.serviceWorker.controller) {
    status.textContent = "The local stack's service worker did not take this page over.";
    return;
  }
  try {
    await navigator.serviceWorker.register("/.lexstream/worker.js", { scope: "/" });
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) =>
        navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }),
      );
    }
  } catch (error) {
    status.textContent = `The local stack's service worker could not start: ${error}`;
    return;
  }
  sessionStorage.setItem(attemptKey, location.href);
  location.reload();
})();
