/**
 * The address a login or password change is throttled under (per-IP lockout). A mesh service
 * logging a user in on their behalf names the client's address, or none: its own address would
 * otherwise be throttled for all its users. Anyone else is throttled under their socket's address.
 */
export function throttledAddress(caller: { meshService: true; claimed: string } | { meshService: false; socketIp: string | undefined }): string | null {
  if (caller.meshService) return caller.claimed.trim() || null;
  return caller.socketIp ?? null;
}
