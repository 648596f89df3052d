import assert from "node:assert/strict";
import {
  checkDestination,
  cidrContains,
  classifyAddress,
  parseCidr,
  parseCidrs,
  parseIp,
} from "../../delivery/ssrf.ts";

Deno.test("ssrf: CIDR parsing and matching, IPv4 and IPv6, as a table", () => {
  const table: [string, string, boolean][] = [
    ["10.0.0.0/8", "10.255.1.2", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["172.16.0.0/12", "172.31.255.255", true],
    ["172.16.0.0/12", "172.32.0.0", false],
    ["192.168.1.77/24", "192.168.1.1", true],
    ["0.0.0.0/0", "8.8.8.8", true],
    ["1.2.3.4", "1.2.3.4", true],
    ["1.2.3.4", "1.2.3.5", false],
    ["fc00::/7", "fd12:3456::1", true],
    ["fc00::/7", "fe00::1", false],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["::/0", "::1", true],
    ["::1/128", "::1", true],
    ["::ffff:0:0/96", "::ffff:10.0.0.1", true],
    ["10.0.0.0/8", "::ffff:10.0.0.1", false], // families differ
    ["fe80::/10", "febf:ffff::1", true],
    ["fe80::/10", "fec0::1", false],
  ];
  for (const [cidrText, ipText, expected] of table) {
    const cidr = parseCidr(cidrText);
    const ip = parseIp(ipText);
    assert.ok(cidr && ip, `${cidrText} ${ipText}`);
    assert.equal(cidrContains(cidr, ip), expected, `${cidrText} ∋ ${ipText}`);
  }
});

Deno.test("ssrf: malformed addresses and CIDRs are refused", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "0x7f.0.0.1",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "12345::",
      "::g",
      "1:2:3:4:5:6:7::8:9",
    ]
  ) assert.equal(parseIp(bad), null, bad);
  assert.deepEqual(parseIp("1:2:3:4:5:6:7:8"), {
    family: 6,
    value: 0x00010002000300040005000600070008n,
  });
  assert.deepEqual(parseIp("::"), { family: 6, value: 0n });
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1"]) {
    assert.equal(parseCidr(bad), null, bad);
  }
  assert.throws(
    () => parseCidrs(["10.0.0.0/8", "nope"]),
    /Invalid CIDR "nope"/,
  );
});

Deno.test("ssrf: address classes, as a table", () => {
  const table: [string, string][] = [
    ["8.8.8.8", "public"],
    ["2606:4700::1111", "public"],
    ["169.254.169.254", "forbidden"],
    ["169.254.1.1", "forbidden"],
    ["fe80::1", "forbidden"],
    ["fd00:ec2::254", "forbidden"],
    ["100.100.100.200", "forbidden"],
    ["0.0.0.0", "forbidden"],
    ["::", "forbidden"],
    ["224.0.0.1", "forbidden"],
    ["ff02::1", "forbidden"],
    ["255.255.255.255", "forbidden"],
    ["::ffff:169.254.169.254", "forbidden"],
    ["127.0.0.1", "private"],
    ["::1", "private"],
    ["10.1.2.3", "private"],
    ["172.20.0.1", "private"],
    ["192.168.0.10", "private"],
    ["100.64.0.1", "private"],
    ["fd12::1", "private"],
    ["::ffff:127.0.0.1", "private"],
  ];
  for (const [ip, kind] of table) {
    assert.equal(classifyAddress(parseIp(ip)!).kind, kind, ip);
  }
});

Deno.test("ssrf: destinations are judged on resolved addresses with clear details", async () => {
  const dns: Record<string, string[]> = {
    "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.216.34", "10.0.0.5"],
    "internal.example": ["10.0.0.5"],
  };
  const resolve = (host: string) => Promise.resolve(dns[host] ?? []);
  const ok = await checkDestination("https://public.example/hook", { resolve });
  assert.deepEqual(ok, {
    ok: true,
    addresses: ["93.184.216.34", "2606:2800:220:1::1"],
  });

  const metadata = await checkDestination("http://metadata.example/", {
    resolve,
    allowPrivate: true,
  });
  assert.equal(metadata.ok, false);
  assert.equal(!metadata.ok && metadata.code, "forbidden_address");
  assert.match(
    !metadata.ok ? metadata.detail : "",
    /"169\.254\.169\.254" \(resolved from "metadata\.example"\) is a cloud metadata address/,
  );

  const mixed = await checkDestination("http://mixed.example/", { resolve });
  assert.equal(!mixed.ok && mixed.code, "private_address");
  assert.ok(
    (await checkDestination("http://mixed.example/", {
      resolve,
      allowPrivate: true,
    })).ok,
  );
  assert.ok(
    (await checkDestination("http://internal.example/", {
      resolve,
      allowCidrs: parseCidrs(["10.0.0.0/24"]),
    })).ok,
  );
  const outside = await checkDestination("http://internal.example/", {
    resolve,
    allowCidrs: parseCidrs(["10.1.0.0/16"]),
  });
  assert.equal(!outside.ok && outside.code, "private_address");

  const cases: [string, string][] = [
    ["ftp://public.example/", "scheme_not_allowed"],
    ["file:///etc/passwd", "scheme_not_allowed"],
    ["not a url", "invalid_url"],
    ["http://nowhere.example/", "unresolvable"],
    ["http://127.0.0.1:8080/", "private_address"],
    ["http://[::1]/", "private_address"],
    ["http://localhost/", "private_address"],
    ["http://api.localhost/", "private_address"],
    ["http://[fe80::1]/", "forbidden_address"],
    ["http://169.254.169.254/latest/meta-data", "forbidden_address"],
    ["http://[::ffff:169.254.169.254]/", "forbidden_address"],
    ["http://0x7f000001/", "private_address"], // URL normalises to 127.0.0.1
  ];
  for (const [url, code] of cases) {
    const result = await checkDestination(url, { resolve });
    assert.equal(result.ok ? "ok" : result.code, code, url);
  }
  assert.ok(
    (await checkDestination("http://127.0.0.1:8080/", { allowPrivate: true }))
      .ok,
  );
});
