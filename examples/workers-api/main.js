// A Cloudflare-Workers-style main.js: an ES module whose default export answers requests.
// Deploy it with `cc-server deploy api` and try http://api.localhost:4698/api/hello?name=you
// Set WEBHOOK_SECRET on the site's dashboard page to verify /webhook signatures.

export const cron = "*/15 * * * *"; // scheduled() below runs every 15 minutes

const json = (value, status = 200) => Response.json(value, { status });

async function hmacHex(secret, body) {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/":
      case "/api/hello":
        return json({ hello: url.searchParams.get("name") || "world", method: request.method });

      case "/api/count": {
        const count = Number((await env.DB.get("count")) || 0) + 1;
        await env.DB.put("count", String(count));
        return json({ count });
      }

      case "/form": {
        const form = await request.formData();
        return new Response(`thanks, ${form.get("name")}`, {
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }

      case "/old-page":
        return Response.redirect(new URL("/api/hello", request.url).toString(), 301);

      case "/webhook": {
        if (!env.WEBHOOK_SECRET) return json({ error: "set WEBHOOK_SECRET on the site's page" }, 500);
        const body = await request.text();
        const expected = await hmacHex(env.WEBHOOK_SECRET, body);
        const given = (request.headers.get("x-signature") || "").replace(/^sha256=/, "");
        if (given !== expected) return json({ error: "bad signature" }, 401);
        await env.DB.put("last-webhook", body);
        return json({ ok: true });
      }

      case "/headers":
        return new Response("echo", {
          headers: { "x-echo": request.headers.get("x-test") || "", "set-cookie": "seen=1; Path=/" },
        });

      case "/later":
        // Answered first; the write still happens within the run's limits.
        ctx.waitUntil(env.DB.put("later", new Date(0).toISOString()));
        return new Response("answered");

      case "/timer":
        return new Promise((resolve) => setTimeout(() => resolve(new Response("after 20 ms")), 20));

      case "/uuid":
        return new Response(crypto.randomUUID());

      case "/bytes":
        return new Response(new Uint8Array([0, 1, 2, 255]), {
          headers: { "content-type": "application/octet-stream" },
        });
    }
    return json({ error: "not found", path: url.pathname }, 404);
  },

  async scheduled(event, env, ctx) {
    const runs = Number((await env.DB.get("cron-runs")) || 0) + 1;
    await env.DB.put("cron-runs", String(runs));
    console.log(`scheduled run ${runs} for ${event.cron}`);
  },
};
