import { execFileSync } from 'node:child_process';

/** Debian's Python, where .ci/run installs python3-grpcio and python3-grpc-tools. */
export const python = '/usr/bin/python3';

/** Whether the independent gRPC client (Python grpcio + grpc_tools) is installed. */
export const hasGrpcio = (() => {
  try {
    execFileSync(python, ['-c', 'import grpc, grpc_tools'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
