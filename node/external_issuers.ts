/**
 * The `externalIssuers` setting: a JSON list of trusted OAuth2 issuers
 * (Auth0, Keycloak, …), validated and turned into one verifier per `iss`.
 *
 * @module
 */

import { z } from "zod";
import { ConfigError } from "../config/load.ts";
import {
  createExternalVerifier,
  type ExternalIssuerConfig,
  type ExternalVerifier,
} from "../identity/jwt.ts";

const CLAIM = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const ISSUERS = z.array(
  z.object({
    issuer: z.string().min(1),
    jwksUrl: z.url(),
    audience: z.string().min(1),
    roleClaim: CLAIM,
    scopeClaim: CLAIM.optional(),
    roleMap: z.record(z.string(), z.array(z.string())),
  }).strict(),
);

/** Parses the setting; throws {@linkcode ConfigError} naming what is wrong. */
export function externalVerifiers(json: string): Map<string, ExternalVerifier> {
  const parsed = ISSUERS.safeParse(JSON.parse(json));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(
      `"externalIssuers" is invalid at ${
        issue.path.join(".") || "(root)"
      }: ${issue.message}`,
      "externalIssuers",
    );
  }
  return new Map(
    parsed.data.map((
      issuer,
    ) => [
      issuer.issuer,
      createExternalVerifier({
        ...issuer,
        ...(issuer.scopeClaim ? { scopeClaim: issuer.scopeClaim } : {}),
      } as ExternalIssuerConfig),
    ]),
  );
}
