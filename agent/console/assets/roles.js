// Roles: what the signed-in user may do, so pages hide the actions the
// agent would refuse. The agent decides (agent/users/authz.go); this only
// mirrors policy.RoleSet.Can on the roles GET api/v1/whoami answered once
// after sign-in:
//
//   tenant-admin          everything
//   community-member      read
//   data-steward + member share, unshare, pause, resume
//   community-admin       manage the community's users
//   (tenant-admin only)   invite, confirm, remove, delete, leave,
//                         connections, the audit log
//
// Roles granted tenant-wide (no community) count everywhere; roles
// granted in a community count there only. When the roles cannot be
// known (an older agent), everything is shown and the agent refuses what
// it must.

import * as auth from './auth.js';

// Actions, as the pages name them.
export const READ = 'read';
export const SHARE = 'share'; // share, unshare, pause, resume
export const MANAGE_USERS = 'manage-users';
export const ADMIN = 'admin'; // invite, confirm, remove, delete, leave, connections, audit

// load reads the roles once after sign-in (auth keeps them for the tab).
export async function load() {
  if (auth.signedIn() && !auth.me()) await auth.whoami();
  return auth.me();
}

// roleSet returns the names of the roles held in community (plus the
// tenant-wide ones); community '' or undefined means tenant-wide only.
function roleSet(me, community) {
  const set = new Set();
  for (const r of me.roles || []) {
    if (!r.community || (community && r.community === community)) set.add(r.role);
  }
  return set;
}

// can reports whether the user may do action, in communityId or, without
// it, tenant-wide.
export function can(action, communityId) {
  const me = auth.me();
  if (!me) return true; // unknown: show, and let the agent decide
  if (me.admin) return true;
  const s = roleSet(me, communityId);
  if (s.has('tenant-admin')) return true;
  switch (action) {
    case READ: return s.has('community-member');
    case SHARE: return s.has('data-steward') && s.has('community-member');
    case MANAGE_USERS: return s.has('community-admin');
    default: return false;
  }
}
