// Writes the v1a vectors to stdout in shared/fixtures/signatures' format.
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { Webhook } from "standardwebhooks";

const require = createRequire(import.meta.url);
const libVersion = require("standardwebhooks/package.json").version;

// Fixed seeds (test keys only): PKCS#8 prefix for a raw Ed25519 seed.
const pkcs8 = (seedHex) =>
  crypto.createPrivateKey({
    key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seedHex, "hex")]),
    format: "der",
    type: "pkcs8",
  });
const whpk = (priv) =>
  "whpk_" + crypto.createPublicKey(priv).export({ format: "jwk" }).x.replace(/-/g, "+").replace(/_/g, "/") + "=";
const key = pkcs8("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
const otherKey = pkcs8("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
const symmetric = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const ts = 1767225600;
const body = '{"type":"contact.created","timestamp":"2026-01-01T00:00:00Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}';

const v1a = (priv, b = body, t = ts) =>
  "v1a," + crypto.sign(null, Buffer.from(`${id}.${t}.${b}`), priv).toString("base64");
const v1 = (b = body, t = ts) => new Webhook(symmetric).sign(id, new Date(t * 1000), b);

const ed = "node:crypto (OpenSSL) Ed25519 over <webhook-id>.<webhook-timestamp>.<body> (no official Standard Webhooks library signs v1a)";
const lib = `standardwebhooks (npm) ${libVersion} Webhook.sign`;
const cross = ["python3 cryptography Ed25519PublicKey.verify (gateway/internal/webhook/testdata/v1a/crosscheck.py)"];

function vector(v) {
  const sent = v.body ?? body;
  return {
    id: v.id,
    scheme: "standard_webhooks",
    case: v.case,
    description: v.description,
    secrets: v.secrets,
    request: {
      method: "POST",
      headers: [
        { name: "Content-Type", value: "application/json" },
        { name: "webhook-id", value: id },
        { name: "webhook-timestamp", value: String(v.ts ?? ts) },
        { name: "webhook-signature", value: v.signature },
      ],
      body: sent,
      body_base64: Buffer.from(sent).toString("base64"),
    },
    now: v.now ?? ts + 3,
    tolerance_seconds: 300,
    expected: v.reason ? { valid: false, reason: v.reason } : { valid: true },
    provenance: v.provenance,
  };
}

const pk = whpk(key);
const vectors = [
  vector({
    id: "stdwh-v1a-valid", case: "v1a_only",
    description: "One v1a (Ed25519) signature, verified with the sender's whpk_ public key.",
    secrets: [pk], signature: v1a(key),
    provenance: { kind: "provider_library_verified", source: ed, cross_checked_with: cross },
  }),
  vector({
    id: "stdwh-v1a-and-v1-public-key", case: "v1_and_v1a_public_key_only",
    description: "v1 and v1a in one header; only the public key is configured, so the v1a entry decides.",
    secrets: [pk], signature: `${v1()} ${v1a(key)}`,
    provenance: { kind: "provider_library", source: `${lib} (v1); ${ed} (v1a)`, cross_checked_with: cross },
  }),
  vector({
    id: "stdwh-v1a-and-v1-symmetric", case: "v1_and_v1a_symmetric_only",
    description: "v1 and v1a in one header; only the whsec_ secret is configured, so the v1 entry decides.",
    secrets: [symmetric], signature: `${v1()} ${v1a(key)}`,
    provenance: { kind: "provider_library", source: `${lib} (v1); ${ed} (v1a)` },
  }),
  vector({
    id: "stdwh-v1a-rotation-second-key", case: "v1a_rotation",
    description: "Two public keys configured (rotation); the signature is by the second.",
    secrets: [whpk(otherKey), pk], signature: v1a(key),
    provenance: { kind: "provider_library_verified", source: ed, cross_checked_with: cross },
  }),
  vector({
    id: "stdwh-v1a-invalid-wrong-key", case: "v1a_wrong_public_key",
    description: "Signed by another key than the configured public key.",
    secrets: [pk], signature: v1a(otherKey), reason: "signature_mismatch",
    provenance: { kind: "derived", source: `${ed}; signed with a second test key` },
  }),
  vector({
    id: "stdwh-v1a-invalid-body-modified", case: "v1a_body_modified",
    description: "A valid v1a signature over the original body; one byte of the body changed.",
    secrets: [pk], signature: v1a(key), body: body.replace("contact.created", "contact.deleted"), reason: "signature_mismatch",
    provenance: { kind: "derived", source: `${ed}; body changed after signing` },
  }),
  vector({
    id: "stdwh-v1a-invalid-expired", case: "v1a_timestamp_expired",
    description: "Correct v1a signature, delivered 301 s after its timestamp.",
    secrets: [pk], signature: v1a(key), now: ts + 301, reason: "timestamp_expired",
    provenance: { kind: "provider_library_verified", source: ed, cross_checked_with: cross },
  }),
  vector({
    id: "stdwh-v1a-invalid-v1-only", case: "v1_only_public_key_configured",
    description: "Only a v1 signature, but only a public key is configured: no signature of a usable version.",
    secrets: [pk], signature: v1(), reason: "unsupported_scheme",
    provenance: { kind: "provider_library", source: lib },
  }),
  vector({
    id: "stdwh-v1a-invalid-truncated", case: "v1a_signature_truncated",
    description: "The v1a signature lost its last bytes (not 64 bytes once decoded).",
    secrets: [pk], signature: v1a(key).slice(0, 40), reason: "signature_mismatch",
    provenance: { kind: "derived", source: `${ed}; signature truncated` },
  }),
];

process.stdout.write(JSON.stringify({
  schema_version: 1,
  title: "Standard Webhooks v1a (Ed25519) verification vectors",
  documentation: "shared/fixtures/signatures/README.md (schema); generated by testdata/v1a/generate.sh",
  reason_codes: ["missing_header", "malformed_header", "unsupported_scheme", "timestamp_expired", "timestamp_in_future", "signature_mismatch"],
  vectors,
}, null, 2) + "\n");
