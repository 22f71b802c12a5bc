import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and its key, as files and as PEM text. */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface Pki {
  caFile: string;
  ca: string;
  /** CN=localhost, SAN DNS:localhost and IP:127.0.0.1, signed by the CA. */
  server: Issued;
  /** The same names, another key and serial: what a renewal looks like. */
  renewed: Issued;
  /** Client certificates signed by the CA: CN=alice, CN=nobody (a name no user has). */
  alice: Issued;
  nobody: Issued;
  /** A second CA, and a server and a client certificate it signed. */
  rogueCaFile: string;
  rogueCa: string;
  rogueServer: Issued;
  rogueClient: Issued;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newCa(dir: string, name: string, cn: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`], dir);
}

function issue(dir: string, ca: string, name: string, cn: string, ext: string): Issued {
  writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`], dir);
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** A throw-away PKI made with the machine's `openssl` in `dir`: EC P-256 keys, valid two days. */
export function makePki(dir: string): Pki {
  const serverExt = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth';
  const clientExt = 'extendedKeyUsage=clientAuth';
  newCa(dir, 'ca', 'Skiff Test CA');
  newCa(dir, 'rogue-ca', 'Rogue CA');
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return {
    caFile: join(dir, 'ca.pem'),
    ca: read('ca.pem'),
    server: issue(dir, 'ca', 'server', 'localhost', serverExt),
    renewed: issue(dir, 'ca', 'renewed', 'localhost', serverExt),
    alice: issue(dir, 'ca', 'alice', 'alice', clientExt),
    nobody: issue(dir, 'ca', 'nobody', 'nobody', clientExt),
    rogueCaFile: join(dir, 'rogue-ca.pem'),
    rogueCa: read('rogue-ca.pem'),
    rogueServer: issue(dir, 'rogue-ca', 'rogue-server', 'localhost', serverExt),
    rogueClient: issue(dir, 'rogue-ca', 'rogue-client', 'alice', clientExt),
  };
}
