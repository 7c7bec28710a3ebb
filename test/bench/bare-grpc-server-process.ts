// The authz benchmark's peer in a process of its own (bare-grpc-server.ts). argv[2]: the base64
// response message. Prints `{"address": …}` and serves until stdin closes; `profile start` /
// `profile stop <file>` on stdin profile a window (profile-on-stdin.ts).
import { startBareGrpcServer } from './bare-grpc-server.ts';
import { profileOnStdin } from './profile-on-stdin.ts';

const bare = await startBareGrpcServer(Buffer.from(process.argv[2] ?? '', 'base64'));
process.stdout.write(`${JSON.stringify({ address: bare.address, pid: process.pid })}\n`);
profileOnStdin();
process.stdin.resume();
process.stdin.on('end', () => void bare.stop().then(() => process.exit(0)));
