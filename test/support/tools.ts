// Host tools some tests need, checked once.
import { execFileSync } from 'node:child_process';

/** Whether qemu-img runs here (Debian's qemu-utils; scripts/setup installs it). */
export const HAVE_QEMU_IMG = (() => {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
