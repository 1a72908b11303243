// sigstore-js verifies a bundle against a trusted root, an identity (SAN) and an issuer:
// the second, independent verifier of what attest and the local Sigstore stack write.
// usage: node verify.js TRUSTED_ROOT.json BUNDLE.json SAN ISSUER  (prints 'verified')
const fs = require('fs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const [root, bundle, san, issuer] = process.argv.slice(2).map((a, i) =>
  i < 2 ? JSON.parse(fs.readFileSync(a, 'utf8')) : a);
new Verifier(toTrustMaterial(TrustedRoot.fromJSON(root)),
             {tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1})
  .verify(toSignedEntity(bundleFromJSON(bundle)), {subjectAlternativeName: san,
                                                   extensions: {issuer}});
console.log('verified');
