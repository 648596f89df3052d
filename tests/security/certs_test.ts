import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import {
  type CertificateAndKey,
  createLocalCa,
  issueNodeCertificate,
} from "../../security/certs.ts";
import * as x509 from "@peculiar/x509";

/** Serves "hello" over TLS on a free loopback port for the duration of `fn`. */
async function withTlsServer(
  node: CertificateAndKey,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  await using server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      cert: node.certPem,
      key: node.keyPem,
      onListen() {},
      // A refused handshake is the point of some tests: keep it out of the output.
      onError: () => new Response("error", { status: 500 }),
    },
    () => new Response("hello"),
  );
  await fn(server.addr.port);
}

Deno.test("certs: the local CA is a CA certificate limited to signing", async () => {
  const ca = await createLocalCa({ commonName: "Test CA", validityDays: 30 });
  const cert = new X509Certificate(ca.certPem);
  assert.equal(cert.ca, true);
  assert.equal(
    new x509.X509Certificate(ca.certPem).getExtension(x509.KeyUsagesExtension)
      ?.usages,
    x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
  );
  assert.equal(cert.subject, "CN=Test CA");
  assert.equal(cert.issuer, "CN=Test CA");
  assert.ok(
    cert.checkPrivateKey(createPrivateKey(ca.keyPem)),
  );
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) /
    86_400_000;
  assert.ok(days > 30 && days < 30.01, `validity ${days} days`);
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

Deno.test("certs: the node certificate names its hosts, is signed by the CA and is not a CA", async () => {
  const ca = await createLocalCa({ commonName: "Test CA", validityDays: 30 });
  const node = await issueNodeCertificate(ca, {
    hosts: ["miranda.internal", "10.0.0.7", "::1"],
    validityDays: 7,
  });
  const cert = new X509Certificate(node.certPem);
  assert.equal(cert.ca, false);
  assert.equal(cert.issuer, "CN=Test CA");
  assert.equal(cert.subject, "CN=miranda.internal");
  assert.equal(
    cert.subjectAltName,
    "DNS:miranda.internal, IP Address:10.0.0.7, IP Address:::1",
  );
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
  const parsed = new x509.X509Certificate(node.certPem);
  assert.deepEqual(
    [...parsed.getExtension(x509.ExtendedKeyUsageExtension)!.usages],
    [x509.ExtendedKeyUsage.serverAuth],
  );
  assert.equal(
    parsed.getExtension(x509.KeyUsagesExtension)?.usages,
    x509.KeyUsageFlags.digitalSignature,
  );
});

Deno.test("certs: the default hosts are localhost, 127.0.0.1 and ::1", async () => {
  const node = await issueNodeCertificate(await createLocalCa());
  assert.equal(
    new X509Certificate(node.certPem).subjectAltName,
    "DNS:localhost, IP Address:127.0.0.1, IP Address:::1",
  );
});

Deno.test("certs: hosts that are neither DNS names nor IPs are refused", async () => {
  const ca = await createLocalCa();
  for (const host of ["bad host", "a..b", "1.2.3.4.5:", "http://x", ""]) {
    await assert.rejects(
      issueNodeCertificate(ca, { hosts: [host] }),
      RangeError,
      host,
    );
  }
  await assert.rejects(issueNodeCertificate(ca, { hosts: [] }), RangeError);
});

Deno.test("certs: a client trusting the CA reaches Deno.serve over TLS", async () => {
  const ca = await createLocalCa({ commonName: "Test CA", validityDays: 30 });
  const node = await issueNodeCertificate(ca, { validityDays: 7 });
  await withTlsServer(node, async (port) => {
    using client = Deno.createHttpClient({ caCerts: [ca.certPem] });
    const response = await fetch(`https://127.0.0.1:${port}/`, { client });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "hello");
    const byName = await fetch(`https://localhost:${port}/`, { client });
    assert.equal(await byName.text(), "hello");
  });
});

Deno.test("certs: a client without the CA is refused with a TLS error", async () => {
  const ca = await createLocalCa();
  const node = await issueNodeCertificate(ca);
  await withTlsServer(node, async (port) => {
    await assert.rejects(
      fetch(`https://127.0.0.1:${port}/`),
      (error: unknown) =>
        error instanceof TypeError &&
        /certificate|UnknownIssuer/i.test(String(error.cause ?? error)),
    );
    // Trusting another CA does not help either.
    using client = Deno.createHttpClient({
      caCerts: [(await createLocalCa()).certPem],
    });
    await assert.rejects(
      fetch(`https://127.0.0.1:${port}/`, { client }),
      TypeError,
    );
  });
});

Deno.test("certs: a certificate for other hosts is refused for 127.0.0.1", async () => {
  const ca = await createLocalCa();
  const node = await issueNodeCertificate(ca, { hosts: ["miranda.example"] });
  await withTlsServer(node, async (port) => {
    using client = Deno.createHttpClient({ caCerts: [ca.certPem] });
    await assert.rejects(
      fetch(`https://127.0.0.1:${port}/`, { client }),
      (error: unknown) =>
        error instanceof TypeError &&
        /certificate|NotValidForName/i.test(String(error.cause ?? error)),
    );
  });
});
