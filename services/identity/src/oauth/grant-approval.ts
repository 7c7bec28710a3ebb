import { mayApproveGrant, type OAuthClient } from '../domain/oauth-client.ts';
import type { IdentityStore } from '../domain/ports.ts';

/** Reads what `mayApproveGrant` needs: the approver's memberships and the client's account path. */
export function createGrantApproval(deps: { clients: { get(id: string): Promise<OAuthClient | undefined> }; store: Pick<IdentityStore, 'getUser' | 'accountPath'> }) {
  async function allowed(client: OAuthClient, userId: string): Promise<boolean> {
    if (client.aclTokenId === null) return true;
    const user = await deps.store.getUser(userId);
    if (!user) return false;
    return mayApproveGrant(client, user.memberships, (await deps.store.accountPath(client.accountId)).map((a) => a.id));
  }
  return {
    allowed,
    /** By client id: an unknown client is nothing to approve. */
    async allowedFor(clientId: string, userId: string): Promise<boolean> {
      const client = await deps.clients.get(clientId);
      return client !== undefined && (await allowed(client, userId));
    },
  };
}
