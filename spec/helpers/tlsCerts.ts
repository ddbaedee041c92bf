import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tail } from './serverProcess';

// Certificates made at test time with `openssl` (EC P-256, valid two days) in a directory the
// caller owns and removes: a CA, a server certificate for 127.0.0.1 and localhost, a client
// certificate (for `tls-auth-clients yes`), a server certificate for another name signed by the
// same CA, and a second CA nobody's certificates chain to. Nothing is read from or written to
// the system's trust store.

const OPENSSL_TIMEOUT_MS = 15_000;

/** PEM files, each as its path and its text. */
export interface Pem {
  readonly path: string;
  readonly pem: string;
}

export interface TlsCerts {
  readonly dir: string;
  /** The CA that signed the server, client and wrong-name certificates. */
  readonly ca: Pem;
  /** A CA that signed nothing here: trusting it alone must fail the handshake. */
  readonly otherCa: Pem;
  /** subjectAltName IP:127.0.0.1, DNS:localhost; extendedKeyUsage serverAuth. */
  readonly server: { cert: Pem; key: Pem };
  /** extendedKeyUsage clientAuth. */
  readonly client: { cert: Pem; key: Pem };
  /** subjectAltName DNS:redis.other.test only, signed by `ca`. */
  readonly wrongName: { cert: Pem; key: Pem };
}

function openssl(dir: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd: dir, timeout: OPENSSL_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (!error) {
        resolve();
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('openssl not found: apt-get install openssl'));
        return;
      }
      reject(new Error(`openssl ${args.join(' ')} failed (${error.code ?? error.signal})\n${tail(stdout)}\n${tail(stderr)}`));
    });
  });
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function pem(dir: string, file: string): Promise<Pem> {
  const path = join(dir, file);
  return { path, pem: await readFile(path, 'utf8') };
}

async function selfSignedCa(dir: string, name: string): Promise<Pem> {
  await openssl(dir, ['req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=ksm spec ${name}`]);
  return pem(dir, `${name}.crt`);
}

async function issued(dir: string, name: string, altNames: string, usage: 'serverAuth' | 'clientAuth'): Promise<{ cert: Pem; key: Pem }> {
  await openssl(dir, ['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  await writeFile(join(dir, `${name}.ext`), `subjectAltName=${altNames}\nextendedKeyUsage=${usage}\n`);
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`,
  ]);
  return { cert: await pem(dir, `${name}.crt`), key: await pem(dir, `${name}.key`) };
}

/** Makes the certificates in `dir` (which must exist and be private to the caller). */
export async function makeTlsCerts(dir: string): Promise<TlsCerts> {
  const ca = await selfSignedCa(dir, 'ca');
  const otherCa = await selfSignedCa(dir, 'other-ca');
  const server = await issued(dir, 'server', 'IP:127.0.0.1,DNS:localhost', 'serverAuth');
  const client = await issued(dir, 'client', 'DNS:ksm-spec-client', 'clientAuth');
  const wrongName = await issued(dir, 'wrong-name', 'DNS:redis.other.test', 'serverAuth');
  return { dir, ca, otherCa, server, client, wrongName };
}
