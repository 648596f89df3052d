import assert from "node:assert/strict";
import { attempt } from "../../delivery/attempt.ts";
import { createDeliveryClient } from "../../delivery/client.ts";
import { parseCidrs } from "../../delivery/ssrf.ts";
import { createLocalCa, issueNodeCertificate } from "../../security/certs.ts";

function sink(
  tls?: { cert: string; key: string },
): Deno.HttpServer<Deno.NetAddr> & { hosts: string[] } {
  const hosts: string[] = [];
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {}, ...tls },
    (request) => {
      hosts.push(request.headers.get("host") ?? "");
      return new Response(null, { status: 204 });
    },
  );
  return Object.assign(server, { hosts });
}

const post = {
  method: "POST",
  headers: [],
  body: null,
  timeoutMs: 5_000,
  privateAllowed: true,
};

Deno.test("delivery client: a name is resolved at connect time and the connection goes to the checked address, kept alive for the next request", async () => {
  await using server = sink();
  const lookups: string[] = [];
  await using client = createDeliveryClient({
    resolve: (name) => {
      lookups.push(name);
      return Promise.resolve(["127.0.0.1"]);
    },
  });
  const url = `http://hooks.example.test:${server.addr.port}/in`;
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await attempt({ ...post, url, client }), {
      kind: "ok",
      status: 204,
    });
    // undici frees the connection a turn after the answer is read.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(
    server.hosts,
    Array(3).fill(`hooks.example.test:${server.addr.port}`),
  );
  assert.deepEqual(lookups, ["hooks.example.test"], "one connection, reused");
});

Deno.test("delivery client: a name rebound to a metadata or link-local address gets no connection; an operator range still passes", async () => {
  await using server = sink();
  let answer = ["169.254.169.254"];
  await using client = createDeliveryClient({
    resolve: () => Promise.resolve(answer),
    allowCidrs: parseCidrs(["127.0.0.0/8"]),
  });
  const url = `http://rebound.example.test:${server.addr.port}/`;
  const refused = await attempt({ ...post, url, client });
  assert.equal(refused.kind, "unreachable");
  assert.match(
    refused.kind === "unreachable" ? refused.error : "",
    /never allowed/,
  );
  answer = ["fe80::1"];
  assert.equal((await attempt({ ...post, url, client })).kind, "unreachable");
  assert.equal(server.hosts.length, 0);
  answer = ["127.0.0.1"];
  assert.deepEqual(await attempt({ ...post, url, client }), {
    kind: "ok",
    status: 204,
  });
});

Deno.test("delivery client: a subscription without private rights gets no connection to a name rebound to loopback, unless an operator range holds it", async () => {
  await using server = sink();
  const resolve = () => Promise.resolve(["127.0.0.1"]);
  const url = `http://rebound.example.test:${server.addr.port}/`;
  await using client = createDeliveryClient({ resolve });
  const strict = await attempt({ ...post, privateAllowed: false, url, client });
  assert.equal(strict.kind, "unreachable");
  assert.match(
    strict.kind === "unreachable" ? strict.error : "",
    /only admins or operator-allowed ranges/,
  );
  assert.deepEqual(await attempt({ ...post, url, client }), {
    kind: "ok",
    status: 204,
  });
  await using allowing = createDeliveryClient({
    resolve,
    allowCidrs: parseCidrs(["127.0.0.0/8"]),
  });
  assert.deepEqual(
    await attempt({ ...post, privateAllowed: false, url, client: allowing }),
    { kind: "ok", status: 204 },
  );
  assert.equal(server.hosts.length, 2);
});

Deno.test("delivery client: an unreachable first address falls through to the next", async () => {
  await using server = sink();
  const closed = Deno.listen({ port: 0, hostname: "127.0.0.2" });
  closed.close();
  await using client = createDeliveryClient({
    resolve: () => Promise.resolve(["127.0.0.2", "127.0.0.1"]),
  });
  const result = await attempt({
    ...post,
    url: `http://two.example.test:${server.addr.port}/`,
    client,
  });
  assert.deepEqual(result, { kind: "ok", status: 204 });
});

Deno.test("delivery client: https checks the certificate against the name in the URL, not the address connected to", async () => {
  const ca = await createLocalCa();
  const leaf = await issueNodeCertificate(ca, {
    hosts: ["hooks.example.test"],
  });
  await using server = sink({ cert: leaf.certPem, key: leaf.keyPem });
  await using client = createDeliveryClient({
    resolve: () => Promise.resolve(["127.0.0.1"]),
    ca: [ca.certPem],
  });
  const port = server.addr.port;
  assert.deepEqual(
    await attempt({
      ...post,
      url: `https://hooks.example.test:${port}/`,
      client,
    }),
    { kind: "ok", status: 204 },
  );
  const wrongName = await attempt({
    ...post,
    url: `https://other.example.test:${port}/`,
    client,
  });
  assert.equal(wrongName.kind, "unreachable");
  await using untrusting = createDeliveryClient({
    resolve: () => Promise.resolve(["127.0.0.1"]),
  });
  const unknownCa = await attempt({
    ...post,
    url: `https://hooks.example.test:${port}/`,
    client: untrusting,
  });
  assert.equal(unknownCa.kind, "unreachable");
  assert.equal(server.hosts.length, 1);
});

Deno.test({
  name:
    "delivery client: with HTTP_PROXY set, deliveries go through the proxy, except to NO_PROXY hosts",
  async fn() {
    const seenByProxy: string[] = [];
    await using proxy = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen: () => {} },
      (request) => {
        seenByProxy.push(request.url);
        return new Response(null, { status: 202 });
      },
    );
    await using direct = sink();
    const env = new Map([
      ["HTTP_PROXY", `http://127.0.0.1:${proxy.addr.port}`],
      ["NO_PROXY", "127.0.0.1"],
    ]);
    const client = createDeliveryClient({ env });
    const viaProxy = await attempt({
      ...post,
      url: "http://hooks.example.test/in?x=1",
      client,
    });
    assert.deepEqual(viaProxy, { kind: "ok", status: 202 });
    assert.deepEqual(seenByProxy, ["http://hooks.example.test/in?x=1"]);
    const bypass = await attempt({
      ...post,
      url: `http://127.0.0.1:${direct.addr.port}/`,
      client,
    });
    assert.deepEqual(bypass, { kind: "ok", status: 204 });
    assert.equal(seenByProxy.length, 1);
    await client.close();
    // undici's proxy agent times its proxy connections (10 s) on undici's
    // shared once-a-second timer, which ends a tick after the last one.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  },
});

Deno.test("delivery client: an idle connection is kept for keepAliveMs (the node's deliveryKeepAliveMs), and closed after the default second", async () => {
  await using server = sink();
  const url = `http://hooks.example.test:${server.addr.port}/`;
  const connections = async (keepAliveMs: number | undefined) => {
    let lookups = 0;
    const client = createDeliveryClient({
      resolve: () => {
        lookups++;
        return Promise.resolve(["127.0.0.1"]);
      },
      ...(keepAliveMs === undefined ? {} : { keepAliveMs }),
    });
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await attempt({ ...post, url, client }), {
        kind: "ok",
        status: 204,
      });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    }
    await client.close();
    return lookups;
  };
  assert.equal(await connections(undefined), 2, "reconnected after 1.5 s idle");
  assert.equal(await connections(4_000), 1, "kept across 1.5 s idle");
  // A keep-alive over a second runs on undici's shared ticking timer, which
  // ends a tick after the last one.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
});

Deno.test("delivery client: connectionsPerOrigin bounds the connections to one origin; more requests wait for one", async () => {
  let inside = 0;
  let most = 0;
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    async () => {
      most = Math.max(most, ++inside);
      await new Promise((resolve) => setTimeout(resolve, 30));
      inside--;
      return new Response(null, { status: 204 });
    },
  );
  const url = `http://hooks.example.test:${server.addr.port}/in`;
  const connectionsFor = async (connectionsPerOrigin?: number) => {
    let connections = 0;
    await using client = createDeliveryClient({
      resolve: () => {
        connections++;
        return Promise.resolve(["127.0.0.1"]);
      },
      ...(connectionsPerOrigin ? { connectionsPerOrigin } : {}),
    });
    most = 0;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => attempt({ ...post, url, client })),
    );
    for (const result of results) {
      assert.deepEqual(result, { kind: "ok", status: 204 });
    }
    return { connections, most };
  };
  assert.deepEqual(await connectionsFor(2), { connections: 2, most: 2 });
  assert.deepEqual(await connectionsFor(), { connections: 8, most: 8 });
});
