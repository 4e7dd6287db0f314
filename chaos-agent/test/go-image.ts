import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * A static Go program for container tests: with PEER, it sends a 1 000-byte UDP datagram to PEER:9 every
 * 20 ms (traffic for kernel rules to count); with HOLD (host:port), it opens one TCP connection there and
 * keeps it open (a caller whose process the agent must find). Built with the machine's Go and imported as
 * a one-file image: nothing is pulled.
 */
const SOURCE = `package main

import (
	"net"
	"os"
	"time"
)

func main() {
	if hold := os.Getenv("HOLD"); hold != "" {
		if c, err := net.Dial("tcp", hold); err == nil {
			defer c.Close()
		}
	}
	peer := os.Getenv("PEER")
	buf := make([]byte, 1000)
	for {
		if peer != "" {
			if c, err := net.Dial("udp", peer+":9"); err == nil {
				c.Write(buf)
				c.Close()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
`;

/** Builds the program and imports it as an image; `remove` deletes the image and the build directory. */
export async function goTestImage(): Promise<{ image: string; remove(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'nova-go-image-'));
  const image = `nova/test-pinger:${randomBytes(3).toString('hex')}`;
  writeFileSync(join(dir, 'main.go'), SOURCE);
  await exec('go', ['build', '-o', join(dir, 'pinger'), join(dir, 'main.go')], {
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  await exec('sh', ['-c', `tar -C '${dir}' -cf - pinger | docker import --change 'ENTRYPOINT ["/pinger"]' - ${image}`]);
  return {
    image,
    async remove() {
      await exec('docker', ['image', 'rm', image]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Is there a Docker engine we may use (root)? Under CI=true its absence is an error, by hand a skip. */
export function dockerAvailable(test: string): boolean {
  let ok = false;
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore' });
    ok = process.getuid?.() === 0;
  } catch {
    ok = false;
  }
  if (!ok && process.env['CI']) throw new Error(`${test} needs root and a Docker engine (CI=true)`);
  if (!ok)
    console.warn(
      `${test} skipped: run as root with a Docker engine (apt-get install docker.io; dockerd --storage-driver=vfs &)`,
    );
  return ok;
}
